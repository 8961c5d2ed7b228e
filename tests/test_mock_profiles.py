"""What differs between profile ``completed`` and profile ``ended`` (canvas-facts.md, the profiles table)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from fixtures.custom_servers import StartCanvas
from fixtures.servers import Canvas
from fixtures.services import BASE, InProcess

TOO_LONG = {"error": "message must be 4000 characters or fewer"}
RATE_LIMIT_MESSAGE = "You've hit the AI Experiences rate limit. Please try again later."
AI_UNAVAILABLE = "The AI service is temporarily unavailable."
SUBSTANTIVE = "Light becomes sugar energy"

MakeMock = Callable[..., InProcess]


# -- message length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "ended_status"),
    [pytest.param(4000, 200, id="4000-accepted"), pytest.param(4001, 422, id="4001-refused")],
)
def test_profile_ended_refuses_messages_over_4000_characters(canvas: Canvas, length: int, ended_status: int) -> None:
    created = canvas.create()
    response = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "é" * length})
    expected = ended_status if canvas.profile == "ended" else 200
    assert response.status_code == expected
    if expected == 422:
        assert response.json() == TOO_LONG
        transcript = canvas.call("GET", canvas.path()).json()["messages"]
        assert len(transcript) == 2  # nothing was appended


# -- daily limits (in-process: a hundred creates over HTTP would be slow) -------------------------------


def _assert_rate_limited(body: dict[str, Any]) -> None:
    assert set(body) == {"error", "code", "retryable", "reference_id"}
    assert (body["error"], body["code"], body["retryable"]) == (RATE_LIMIT_MESSAGE, "rate_limited", True)
    assert isinstance(body["reference_id"], str) and body["reference_id"]


def test_profile_ended_allows_100_creates_a_day_then_429(in_process: MakeMock) -> None:
    mock = in_process(profile="ended")
    for _ in range(100):
        mock.create()
    response = mock.call("POST")
    assert response.status == 429
    _assert_rate_limited(response.json())
    assert mock.call("POST", token="other_student").status == 201  # per user
    mock.clock.advance(days=1)
    assert mock.call("POST").status == 201  # a new day


def test_profile_ended_allows_1000_messages_a_day_then_429(in_process: MakeMock) -> None:
    mock = in_process(profile="ended")
    conversation_id = 0
    for sent in range(1000):
        if sent % 20 == 0:  # short transcripts keep this fast
            conversation_id = mock.create()
        assert mock.post(conversation_id, "hi").status == 200
    response = mock.post(conversation_id, "one more")
    assert response.status == 429
    _assert_rate_limited(response.json())
    mock.clock.advance(days=1)
    assert mock.post(conversation_id, "a new day").status == 200


def test_profile_completed_has_no_daily_limits(in_process: MakeMock) -> None:
    mock = in_process(profile="completed")
    for _ in range(101):
        mock.create()


# -- AI service failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "conversation", "messages"),
    [
        pytest.param("GET", None, False, id="active"),
        pytest.param("POST", None, False, id="create"),
        pytest.param("GET", "existing", False, id="show"),
        pytest.param("POST", "existing", True, id="post_message"),
    ],
)
@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_ai_failure_is_a_503_with_the_profiles_body(
    start_canvas: StartCanvas, profile: str, method: str, conversation: str | None, messages: bool
) -> None:
    canvas = start_canvas(profile=profile, llm_failure_rate=1.0)
    # The teacher's own active conversation: every route reaches it, and active must ask the AI.
    existing = canvas.server.service.store.add(1, 101, 7, "llm-1", [], datetime.now(UTC))
    cid = existing.id if conversation else None
    response = canvas.call(method, canvas.path(cid, messages=messages), "teacher", json={"message": "hi"})
    assert response.status_code == 503
    body = response.json()
    if profile == "completed":
        assert body == {"error": AI_UNAVAILABLE}
    else:
        assert set(body) == {"error", "code", "retryable", "reference_id"}
        assert (body["error"], body["code"], body["retryable"]) == (AI_UNAVAILABLE, "service_unavailable", True)
        uuid.UUID(body["reference_id"])


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_destroy_never_calls_the_ai_so_never_503(start_canvas: StartCanvas, profile: str) -> None:
    canvas = start_canvas(profile=profile, llm_failure_rate=1.0)
    existing = canvas.server.service.store.add(11, 101, 7, "llm-1", [], datetime.now(UTC))
    assert canvas.call("DELETE", canvas.path(existing.id)).status_code == 200


# -- message ids and feedback -----------------------------------------------------------------------------


def test_profile_completed_messages_are_role_and_text_only(canvas_completed: Canvas) -> None:
    canvas = canvas_completed
    created = canvas.create()
    posted = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "hi"}).json()
    shown = canvas.call("GET", canvas.path(created["id"]), "teacher").json()
    for body in (created, posted, shown):
        assert all(set(m) == {"role", "text"} for m in body["messages"])


def test_profile_ended_messages_carry_ids_and_feedback_except_on_create(canvas_ended: Canvas) -> None:
    canvas = canvas_ended
    created = canvas.create()
    assert all(set(m) == {"id", "role", "text"} for m in created["messages"])
    posted = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "hi"}).json()
    active = canvas.call("GET", canvas.path()).json()
    shown = canvas.call("GET", canvas.path(created["id"]), "teacher").json()
    for body in (posted, active, shown):
        assert all(set(m) == {"id", "role", "text", "feedback"} for m in body["messages"])
        assert all(m["feedback"] == [] for m in body["messages"])
    ids = [m["id"] for m in posted["messages"]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 4
    assert ids[:2] == [m["id"] for m in created["messages"]]  # a message keeps its id
    assert [m["id"] for m in shown["messages"]] == ids


# -- show's all_objectives_met ---------------------------------------------------------------------------


def test_profile_ended_show_says_whether_all_objectives_are_met(canvas_ended: Canvas) -> None:
    canvas = canvas_ended
    created = canvas.create(experience="8")  # three objectives
    show = canvas.path(created["id"], experience="8")
    met = []
    for _ in range(3):
        met.append(canvas.call("GET", show, "teacher").json()["all_objectives_met"])
        canvas.call("POST", canvas.path(created["id"], messages=True, experience="8"), json={"message": SUBSTANTIVE})
    met.append(canvas.call("GET", show, "teacher").json()["all_objectives_met"])
    assert met == [False, False, False, True]


def test_all_objectives_met_is_false_without_objectives(canvas_ended: Canvas) -> None:
    created = canvas_ended.create(experience="9")
    shown = canvas_ended.call("GET", canvas_ended.path(created["id"], experience="9"), "teacher").json()
    assert shown["all_objectives_met"] is False


def test_profile_completed_show_has_no_all_objectives_met(canvas_completed: Canvas) -> None:
    created = canvas_completed.create()
    shown = canvas_completed.call("GET", canvas_completed.path(created["id"]), "teacher").json()
    assert "all_objectives_met" not in shown


# -- timestamps (in-process, with a clock that moves on request) -------------------------------------------


@pytest.mark.parametrize(("profile", "closed"), [("completed", "completed"), ("ended", "ended")])
def test_updated_at_follows_posts_and_closing(in_process: MakeMock, profile: str, closed: str) -> None:
    mock = in_process(profile=profile)
    conversation_id = mock.create()
    show = f"{BASE}/{conversation_id}"
    mock.clock.advance(minutes=5)
    mock.post(conversation_id, "hello")
    after_post = mock.call("GET", show, "teacher").json()
    assert (after_post["created_at"], after_post["updated_at"]) == ("2026-02-15T08:56:18Z", "2026-02-15T09:01:18Z")
    mock.clock.advance(minutes=5)
    mock.call("DELETE", show)
    after_close = mock.call("GET", show, "teacher").json()
    assert (after_close["workflow_state"], after_close["updated_at"]) == (closed, "2026-02-15T09:06:18Z")
