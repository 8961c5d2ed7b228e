"""The fake keeps state as Canvas does, through the mock's own domain (no rule written twice)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from canvas_ai_harness.fake import FakeCanvas


def _call(
    fake: FakeCanvas, method: str, suffix: str = "", token: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or fake.tokens.student}"}
    return requests.request(method, fake.conversations_url() + suffix, headers=headers, **kwargs)


def test_ids_grow_and_each_create_closes_the_previous_conversation(canvas_fake: FakeCanvas) -> None:
    first = _call(canvas_fake, "POST").json()["id"]
    second = _call(canvas_fake, "POST").json()["id"]
    assert (first, second) == (1, 2)
    assert _call(canvas_fake, "POST", f"/{first}/messages", json={"message": "hi"}).status_code == 404
    assert _call(canvas_fake, "GET").json()["id"] == second
    shown = _call(canvas_fake, "GET", f"/{first}", token=canvas_fake.tokens.teacher).json()
    assert shown["workflow_state"] == "completed"


def test_the_transcript_grows_by_two_messages_a_turn(canvas_fake: FakeCanvas) -> None:
    conversation_id = _call(canvas_fake, "POST").json()["id"]
    lengths = [
        len(_call(canvas_fake, "POST", f"/{conversation_id}/messages", data={"message": text}).json()["messages"])
        for text in ("one two three", "four five six")
    ]
    assert lengths == [4, 6]


def test_one_active_conversation_per_user(canvas_fake: FakeCanvas) -> None:
    mine = _call(canvas_fake, "POST").json()["id"]
    theirs = _call(canvas_fake, "POST", token=canvas_fake.tokens.other_student).json()["id"]
    assert _call(canvas_fake, "GET").json()["id"] == mine
    assert _call(canvas_fake, "DELETE", f"/{theirs}").status_code == 404  # another student's: not visible


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        pytest.param("completed", "Conversation completed successfully", id="completed"),
        pytest.param("ended", "Conversation ended successfully", id="ended"),
    ],
)
def test_profiles_answer_as_their_canvas_does(profile: str, message: str) -> None:
    with FakeCanvas(profile=profile) as fake:  # type: ignore[arg-type]
        conversation_id = _call(fake, "POST").json()["id"]
        assert _call(fake, "DELETE", f"/{conversation_id}").json() == {"message": message}
        second = _call(fake, "POST").json()["id"]
        too_long = _call(fake, "POST", f"/{second}/messages", json={"message": "x" * 4001})
        assert too_long.status_code == (422 if profile == "ended" else 200)


def test_state_is_per_fake(canvas_fake: FakeCanvas) -> None:
    _call(canvas_fake, "POST")
    other = FakeCanvas("https://other.example.edu")
    assert other.service.store.get(1) is None
    canvas_fake.reset()
    assert canvas_fake.service.store.get(1) is None and len(canvas_fake.calls) == 0
