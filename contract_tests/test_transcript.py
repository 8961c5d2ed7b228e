"""The transcript: each post_message returns the whole transcript with the user's text and the
assistant's reply appended, earlier messages unchanged, and consistent progress."""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract.scenario import Canvas

TURNS = (
    "Plants need sunlight, water and carbon dioxide.",
    "The chlorophyll in the leaves captures the light energy.",
    "Then the Calvin cycle turns carbon dioxide into sugar.",
)
BODY_CHECKS = (
    "transcript-appends-user-and-assistant",
    "earlier-messages-unchanged",
    "user-text-unchanged",
    "assistant-text-non-empty",
    "progress-consistent",
    "llm-id-not-leaked",
    "integer-ids",
)


@pytest.mark.canvas_cost(creates=1, posts=3)
@pytest.mark.canvas_check(*BODY_CHECKS)
def test_each_turn_appends_the_users_text_and_a_reply(canvas: Canvas) -> None:
    with canvas.judging(*BODY_CHECKS):
        conversation = canvas.create()  # a new transcript, judged from its first message
        for turn in TURNS:
            canvas.post(conversation, turn)
        canvas.active()  # the whole transcript again, unchanged
        if canvas.target.tokens.teacher is not None:
            canvas.show(conversation)


@pytest.mark.canvas_cost(creates=1, posts=2)
@pytest.mark.canvas_check("progress-consistent")
def test_progress_rounds_like_canvas_in_another_experience(canvas: Canvas) -> None:
    canvas.needs("other_ai_experience_id")
    experience = canvas.target.other_ai_experience_id
    with canvas.judging("progress-consistent"):
        conversation = canvas.create(experience=experience)
        for turn in TURNS[:2]:
            canvas.post(conversation, turn, experience=experience)
        canvas.destroy(conversation, experience=experience)
