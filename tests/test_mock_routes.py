"""The five routes and their success bodies, over real HTTP, in both profiles (canvas-facts.md, "The five routes")."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from canvas_ai_harness.mock import default_world
from fixtures.custom_servers import StartCanvas
from fixtures.servers import Canvas

EXPERIENCE = default_world().experiences[7]
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DESTROY_MESSAGE = {
    "completed": "Conversation completed successfully",
    "ended": "Conversation ended successfully",
}


def _role_text(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["text"]) for m in messages]


def _keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys_anywhere(v)}
    return set()


def test_create_answers_201_with_hidden_prompt_then_first_question(canvas: Canvas) -> None:
    response = canvas.call("POST", canvas.path())
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "messages", "progress"}
    assert isinstance(body["id"], int) and body["id"] > 0
    (prompt_role, prompt), (question_role, question) = _role_text(body["messages"])
    assert (prompt_role, question_role) == ("User", "Assistant")
    for part in (EXPERIENCE.scenario, EXPERIENCE.facts, *EXPERIENCE.objectives):
        assert part in prompt
    assert question.strip() and question != prompt


def test_active_is_an_empty_object_when_the_caller_has_none(canvas: Canvas) -> None:
    response = canvas.call("GET", canvas.path())
    assert response.status_code == 200
    assert response.json() == {}


def test_active_returns_the_whole_transcript_every_time(canvas: Canvas) -> None:
    created = canvas.create()
    canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "Light and water"})
    last = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "Chlorophyll is green"})
    active = canvas.call("GET", canvas.path())
    assert active.status_code == 200
    assert active.json() == last.json()
    assert len(active.json()["messages"]) == 6


def test_each_post_appends_exactly_user_then_assistant_and_keeps_earlier_messages(canvas: Canvas) -> None:
    created = canvas.create()
    transcript = _role_text(created["messages"])
    for text in ("Plants need light", "ok", "Chlorophyll absorbs red and blue light"):
        response = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": text})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"id", "messages", "progress"} and body["id"] == created["id"]
        messages = _role_text(body["messages"])
        assert messages[: len(transcript)] == transcript
        assert len(messages) == len(transcript) + 2
        assert messages[-2] == ("User", text)
        assert messages[-1][0] == "Assistant" and messages[-1][1] not in ("", text)
        transcript = messages


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Ça pousse grâce au soleil ☀️, 光合作用", id="unicode"),
        pytest.param("🌿👩‍🔬🧪 emoji with a zero-width joiner", id="emoji"),
        pytest.param("  leading and trailing spaces kept  ", id="surrounding-whitespace"),
        pytest.param("line one\nline two\ttabbed", id="newlines-and-tabs"),
        pytest.param('<b>"quotes"</b> & \\backslashes\\', id="markup-and-escapes"),
        pytest.param("x" * 4000, id="4000-characters"),
    ],
)
def test_user_text_comes_back_unchanged(canvas: Canvas, text: str) -> None:
    created = canvas.create()
    response = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": text})
    assert response.status_code == 200
    assert response.json()["messages"][-2] == {**response.json()["messages"][-2], "role": "User", "text": text}


def test_profile_completed_accepts_a_very_long_message(canvas_completed: Canvas) -> None:
    created = canvas_completed.create()
    text = "word " * 10_000
    response = canvas_completed.call(
        "POST", canvas_completed.path(created["id"], messages=True), json={"message": text}
    )
    assert response.status_code == 200
    assert response.json()["messages"][-2]["text"] == text


@pytest.mark.parametrize(
    ("send", "expected_text"),
    [
        pytest.param({"json": {"message": "as JSON"}}, "as JSON", id="json"),
        pytest.param({"data": {"message": "as a form field"}}, "as a form field", id="form"),
        pytest.param({"params": {"message": "in the query string"}}, "in the query string", id="query"),
        pytest.param({"json": {"message": 42}}, "42", id="json-integer"),
        pytest.param({"json": {"message": 2.5}}, "2.5", id="json-float"),
    ],
)
def test_message_is_read_from_json_form_or_query(canvas: Canvas, send: dict[str, Any], expected_text: str) -> None:
    created = canvas.create()
    response = canvas.call("POST", canvas.path(created["id"], messages=True), **send)
    assert response.status_code == 200, response.text
    assert response.json()["messages"][-2]["text"] == expected_text


def test_llm_conversation_id_is_never_outside_show(canvas: Canvas) -> None:
    created = canvas.call("POST", canvas.path()).json()
    posted = canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": "hi there you"}).json()
    active = canvas.call("GET", canvas.path()).json()
    for body in (created, posted, active):
        keys = _keys_anywhere(body)
        assert "llm_conversation_id" not in keys and "conversation_id" not in keys
    shown = canvas.call("GET", canvas.path(created["id"]), "teacher").json()
    assert isinstance(shown["llm_conversation_id"], str) and shown["llm_conversation_id"]


def test_show_has_canvas_fields_with_string_user_id_and_iso_timestamps(canvas: Canvas) -> None:
    created = canvas.create()
    response = canvas.call("GET", canvas.path(created["id"]), "teacher")
    assert response.status_code == 200
    body = response.json()
    expected = {
        "id",
        "user_id",
        "llm_conversation_id",
        "workflow_state",
        "created_at",
        "updated_at",
        "messages",
        "progress",
    }
    if canvas.profile == "ended":
        expected.add("all_objectives_met")
    assert set(body) == expected
    assert body["id"] == created["id"]
    assert body["user_id"] == "11"
    assert body["workflow_state"] == "active"
    for key in ("created_at", "updated_at"):
        assert ISO_UTC.match(body[key]), body[key]
        moment = datetime.strptime(body[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert _role_text(body["messages"]) == _role_text(created["messages"])
    assert body["progress"] == created["progress"]


def test_destroy_answers_the_profile_message(canvas: Canvas) -> None:
    created = canvas.create()
    response = canvas.call("DELETE", canvas.path(created["id"]))
    assert response.status_code == 200
    assert response.json() == {"message": DESTROY_MESSAGE[canvas.profile]}


def test_bearer_requests_need_no_csrf_token_or_cookie(canvas: Canvas) -> None:
    canvas.http.cookies.clear()
    response = canvas.call("POST", canvas.path(), headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 201


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_create_answers_null_id_and_saves_nothing_when_the_ai_returns_no_id(
    start_canvas: StartCanvas, profile: str
) -> None:
    canvas = start_canvas(profile=profile, llm_null_id_rate=1.0)
    response = canvas.call("POST", canvas.path())
    assert response.status_code == 201
    body = response.json()
    assert body["id"] is None
    assert [m["role"] for m in body["messages"]] == ["User", "Assistant"]
    assert "progress" in body
    assert canvas.call("GET", canvas.path()).json() == {}
