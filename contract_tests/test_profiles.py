"""The two behaviour sets Canvas has shipped (canvas-facts.md, the profile table): the destroy
message, the closed state, message ids and feedback, the 4000-character limit, show's fields.
The run expects the profile given by --profile, the target file, or (--profile auto) detection."""

from __future__ import annotations

import pytest

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.contract.scenario import Canvas

ONE_OVER_THE_LIMIT = min(p.max_message_chars for p in answers.PROFILES.values() if p.max_message_chars) + 1


@pytest.mark.canvas_cost(creates=1, posts=1)
@pytest.mark.canvas_check("profile-message-ids")
def test_messages_carry_ids_and_feedback_as_the_profile_says(canvas: Canvas) -> None:
    with canvas.judging("profile-message-ids"):
        conversation = canvas.create()  # create's messages carry no feedback: that answer is part of the rule
        canvas.post(conversation, "Do my messages have ids?")
        canvas.active()


@pytest.mark.canvas_cost(creates=0, posts=1)
@pytest.mark.canvas_check("profile-message-limit")
def test_a_message_over_4000_characters_follows_the_profile(canvas: Canvas) -> None:
    conversation = canvas.conversation()
    text = ("Chlorophyll is green because it reflects green light. " * 100)[:ONE_OVER_THE_LIMIT]
    with canvas.judging("profile-message-limit"):
        canvas.post(conversation, text)


@pytest.mark.canvas_cost(creates=0, posts=0)
@pytest.mark.canvas_check("profile-show-fields", "profile-closed-state")
def test_show_has_the_profiles_fields_and_state(canvas: Canvas) -> None:
    canvas.needs("tokens.teacher")
    with canvas.judging("profile-show-fields", "profile-closed-state"):
        conversation = canvas.conversation()
        canvas.destroy(conversation)
        canvas.show(conversation)


@pytest.mark.canvas_cost(creates=1, posts=0)
@pytest.mark.canvas_check("profile-destroy-message")
def test_destroy_answers_the_profiles_message(canvas: Canvas) -> None:
    with canvas.judging("profile-destroy-message"):
        canvas.destroy(canvas.conversation())
