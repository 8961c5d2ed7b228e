"""Canvas's lifecycle rules: one active conversation per user and experience, create closes the
previous one, destroy closes without deleting, active answers {} after the end."""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract.scenario import Canvas


@pytest.mark.canvas_check("create-answers-201", "create-closes-previous", "active-returns-own-active")
def test_create_closes_the_callers_previous_conversation(canvas: Canvas) -> None:
    with canvas.judging("create-answers-201", "create-closes-previous", "active-returns-own-active"):
        first = canvas.create()
        second = canvas.create()
        canvas.active()  # the second one, never the first
        canvas.post(first, "Is my first conversation still open?")  # its student: 404 now
        canvas.destroy(first)
    canvas.destroy(second)


@pytest.mark.canvas_check("destroy-closes", "active-empty-after-end", "closed-conversation-404")
def test_destroy_closes_the_conversation(canvas: Canvas) -> None:
    with canvas.judging("destroy-closes", "active-empty-after-end", "closed-conversation-404"):
        conversation = canvas.create()
        canvas.destroy(conversation)
        canvas.active()  # {}
        canvas.post(conversation, "Are you still there?")
        canvas.show(conversation, identity="student")
        canvas.destroy(conversation)


@pytest.mark.canvas_check("teacher-reaches-any-conversation", "profile-closed-state")
def test_a_teacher_still_shows_closed_conversations(canvas: Canvas) -> None:
    canvas.needs("tokens.teacher")
    with canvas.judging("teacher-reaches-any-conversation", "profile-closed-state"):
        ended = canvas.create()
        canvas.show(ended)  # active
        canvas.destroy(ended)
        canvas.show(ended)  # closed by destroy
        replaced = canvas.create()
        canvas.create()
        canvas.show(replaced)  # closed by the newer create
