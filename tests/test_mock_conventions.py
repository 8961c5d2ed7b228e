"""Canvas-wide conventions the mock reproduces (canvas-facts.md, "Canvas-wide conventions")."""

from __future__ import annotations

from typing import Any

import pytest

from canvas_ai_harness.canvas import bodies
from fixtures.servers import Canvas

ROUTE_NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
INTERNAL_ERROR = {"errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}]}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
INVALID_AS_USER_ID = {"errors": "Invalid as_user_id"}
STRING_IDS = "application/json+canvas-string-ids"
PREFIX = "/api/v1/courses/101/ai_experiences/7"


# -- routing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/api/v1/courses/101/ai_experiences/7", id="experience-itself"),
        pytest.param("GET", f"{PREFIX}/conversation", id="misspelt-collection"),
        pytest.param("GET", f"{PREFIX}/conversations/1/messages", id="get-messages"),
        pytest.param("GET", f"{PREFIX}/conversations/1/evaluation", id="newer-canvas-route"),
        pytest.param("GET", "/api/v2/courses/101/ai_experiences/7/conversations", id="api-v2"),
        pytest.param("GET", "/", id="root"),
        pytest.param("PUT", f"{PREFIX}/conversations", id="put-collection"),
        pytest.param("PATCH", f"{PREFIX}/conversations/1", id="patch-conversation"),
        pytest.param("PUT", f"{PREFIX}/conversations/1", id="put-conversation"),
        pytest.param("DELETE", f"{PREFIX}/conversations", id="delete-collection"),
        pytest.param("POST", f"{PREFIX}/conversations/1", id="post-conversation"),
        pytest.param("DELETE", f"{PREFIX}/conversations/1/messages", id="delete-messages"),
        pytest.param("OPTIONS", f"{PREFIX}/conversations", id="options"),
        pytest.param("TRACE", f"{PREFIX}/conversations", id="trace"),
    ],
)
@pytest.mark.parametrize("token", ["student", None])
def test_unknown_routes_and_methods_are_a_routing_404(
    canvas: Canvas, method: str, path: str, token: str | None
) -> None:
    canvas.create()
    response = canvas.call(method, path, token)
    assert response.status_code == 404
    assert response.json() == ROUTE_NOT_FOUND


def test_head_answers_like_get_without_a_body(canvas: Canvas) -> None:
    created = canvas.create()
    for path, token in ((canvas.path(), "student"), (canvas.path(created["id"]), "teacher"), ("/nowhere", None)):
        got = canvas.call("GET", path, token)
        head = canvas.call("HEAD", path, token)
        assert head.status_code == got.status_code
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.content == b""


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        pytest.param("GET", "", 200, id="active"),
        pytest.param("POST", "", 201, id="create"),
        pytest.param("GET", "/{id}", 200, id="show"),
        pytest.param("POST", "/{id}/messages", 200, id="post_message"),
        pytest.param("DELETE", "/{id}", 200, id="destroy"),
    ],
)
def test_trailing_json_is_accepted_on_every_route(canvas: Canvas, method: str, suffix: str, status: int) -> None:
    created = canvas.create()
    path = canvas.path() + suffix.format(id=created["id"]) + ".json"
    token = "teacher" if method == "GET" and suffix else "student"
    response = canvas.call(method, path, token, json={"message": "hello there"} if "messages" in suffix else None)
    assert response.status_code == status, response.text


# -- string ids ----------------------------------------------------------------------------------------


def _expected_string_ids(value: Any) -> Any:
    """Written independently of bodies.stringify_ids: what the UI's Accept header should give."""
    if isinstance(value, list):
        return [_expected_string_ids(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        is_id = key == "id" or key.endswith("_id")
        out[key] = str(item) if is_id and type(item) is int else _expected_string_ids(item)
    return out


@pytest.mark.parametrize("accept", [STRING_IDS, f"{STRING_IDS}, application/json"])
def test_string_ids_accept_header_turns_every_id_into_a_string(canvas: Canvas, accept: str) -> None:
    headers = {"Accept": accept}
    created = canvas.call("POST", canvas.path(), headers=headers).json()
    assert isinstance(created["id"], str) and created["id"].isdigit()
    cid = int(created["id"])
    path = canvas.path(cid, messages=True)
    plain = canvas.call("POST", path, json={"message": "first words here"}).json()
    stringy = canvas.call("POST", path, json={"message": "second words here"}, headers=headers).json()
    assert stringy["messages"][: len(plain["messages"])] == _expected_string_ids(plain["messages"])
    assert stringy["id"] == str(cid)
    shown = canvas.call("GET", canvas.path(cid), "teacher", headers=headers).json()
    assert shown["id"] == str(cid) and shown["user_id"] == "11"
    if canvas.profile == "ended":
        assert all(isinstance(m["id"], str) for m in shown["messages"])


def test_canvas_ui_flow_with_its_accept_header(canvas: Canvas) -> None:
    """What Canvas's own chat UI does (canvas-facts.md, "Third-party code that calls these routes")."""
    ui = {"Accept": f"{STRING_IDS}, application/json"}
    assert canvas.call("GET", canvas.path(), headers=ui).json() == {}
    first = canvas.call("POST", canvas.path(), headers=ui)  # no body
    assert first.status_code == 201
    cid = first.json()["id"]
    for turn in ("Plants use sunlight", "They make sugar from it"):
        posted = canvas.call("POST", canvas.path(cid, messages=True), json={"message": turn}, headers=ui).json()
        assert posted["id"] == cid and posted["messages"][-2]["text"] == turn
    assert canvas.call("GET", canvas.path(), headers=ui).json() == posted
    restarted = canvas.call("POST", canvas.path(), headers=ui).json()  # "restart"
    assert restarted["id"] != cid and len(restarted["messages"]) == 2
    assert canvas.call("GET", canvas.path(), headers=ui).json()["id"] == restarted["id"]


def test_stringify_ids_is_recursive_and_leaves_other_values_alone() -> None:
    body = {
        "id": 1,
        "user_id": 2,
        "paid": 3,
        "identity": 4,
        "flag_id": True,
        "none_id": None,
        "text_id": "x",
        "nested": [{"course_id": 5, "deep": {"message_id": 6, "count": 7}}],
    }
    assert bodies.stringify_ids(body) == {
        "id": "1",
        "user_id": "2",
        "paid": 3,
        "identity": 4,
        "flag_id": True,
        "none_id": None,
        "text_id": "x",
        "nested": [{"course_id": "5", "deep": {"message_id": "6", "count": 7}}],
    }


# -- tokens as parameters ---------------------------------------------------------------------------------


def test_access_token_works_as_a_query_parameter(canvas: Canvas) -> None:
    created = canvas.create()
    response = canvas.call("GET", canvas.path(), None, params={"access_token": "mock-student-token"})
    assert response.status_code == 200 and response.json()["id"] == created["id"]


def test_access_token_works_as_a_form_parameter(canvas: Canvas) -> None:
    created = canvas.create()
    path = canvas.path(created["id"], messages=True)
    response = canvas.call("POST", path, None, data={"access_token": "mock-student-token", "message": "from a form"})
    assert response.status_code == 200
    assert response.json()["messages"][-2]["text"] == "from a form"


def test_invalid_access_token_parameter_is_a_401(canvas: Canvas) -> None:
    response = canvas.call("GET", canvas.path(), None, params={"access_token": "nope"})
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN)
    assert response.headers["www-authenticate"] == 'Bearer realm="canvas-lms"'


# -- masquerading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [pytest.param({"params": {"as_user_id": "11"}}, id="query"), pytest.param({"json": {"as_user_id": 11}}, id="json")],
)
def test_admin_acts_as_another_user_with_as_user_id(canvas: Canvas, send: dict[str, Any]) -> None:
    response = canvas.call("POST", canvas.path(), "admin", **send)
    assert response.status_code == 201
    assert canvas.call("GET", canvas.path()).json()["id"] == response.json()["id"]  # the student's own now
    assert canvas.call("GET", canvas.path(), "admin").json() == {}


def test_as_user_id_naming_oneself_is_harmless(canvas: Canvas) -> None:
    assert canvas.call("POST", canvas.path(), params={"as_user_id": "11"}).status_code == 201


@pytest.mark.parametrize(
    ("token", "as_user_id"),
    [
        pytest.param("student", "12", id="student-may-not-masquerade"),
        pytest.param("teacher", "11", id="teacher-may-not-masquerade"),
        pytest.param("admin", "424242", id="unknown-user"),
        pytest.param("admin", "sam", id="not-an-id"),
        pytest.param("admin", "1" * 25, id="25-digit-id"),
    ],
)
def test_bad_as_user_id_is_a_401_with_a_string_error(canvas: Canvas, token: str, as_user_id: str) -> None:
    response = canvas.call("GET", canvas.path(), token, params={"as_user_id": as_user_id})
    assert (response.status_code, response.json()) == (401, INVALID_AS_USER_ID)


# -- unhandled errors ----------------------------------------------------------------------------------------


def test_unhandled_error_is_a_500_with_canvas_body(canvas: Canvas, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("a bug in the mock")

    monkeypatch.setattr(canvas.server.service.store, "active_for", boom)
    response = canvas.call("GET", canvas.path())
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == INTERNAL_ERROR
    assert "a bug in the mock" not in response.text
