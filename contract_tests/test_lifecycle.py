"""Canvas's lifecycle rules: one active conversation per user and experience, create closes the
previous one, destroy closes without deleting, active answers {} after the end.

Creates are what Canvas allows fewest of (profile ended: 100 a day), so a scenario whose rule
holds for any active conversation starts from the one its student already has; each leaves its
last conversation active for the next."""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract.scenario import Canvas


@pytest.mark.canvas_cost(creates=2, posts=0)
@pytest.mark.canvas_check("create-answers-201", "create-closes-previous", "active-returns-own-active")
def test_create_closes_the_callers_previous_conversation(canvas: Canvas) -> None:
    with canvas.judging("create-answers-201", "create-closes-previous", "active-returns-own-active"):
        first = canvas.create()
        canvas.create()
        canvas.active()  # the second one, never the first
        canvas.post(first, "Is my first conversation still open?")  # its student: 404 now
        canvas.destroy(first)


@pytest.mark.canvas_cost(creates=2, posts=0)
@pytest.mark.canvas_check("teacher-reaches-any-conversation", "profile-closed-state")
def test_a_teacher_still_shows_closed_conversations(canvas: Canvas) -> None:
    canvas.needs("tokens.teacher")
    with canvas.judging("teacher-reaches-any-conversation", "profile-closed-state"):
        ended = canvas.conversation()
        canvas.show(ended)  # active
        canvas.destroy(ended)
        canvas.show(ended)  # closed by destroy
        replaced = canvas.create()
        canvas.create()
        canvas.show(replaced)  # closed by the newer create


@pytest.mark.canvas_cost(creates=0, posts=0)
@pytest.mark.canvas_check("destroy-closes", "active-empty-after-end", "closed-conversation-404")
def test_destroy_closes_the_conversation(canvas: Canvas) -> None:
    with canvas.judging("destroy-closes", "active-empty-after-end", "closed-conversation-404"):
        conversation = canvas.conversation()  # any active conversation: destroy closes it
        canvas.destroy(conversation)
        canvas.active()  # {}
        canvas.post(conversation, "Are you still there?")
        canvas.show(conversation, identity=canvas.student)
        canvas.destroy(conversation)
