"""Visibility and authorization in Canvas's order (canvas-facts.md, steps 1-7), and the 400 for a blank message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fixtures.custom_servers import StartCanvas
from fixtures.servers import Canvas

# The bodies are written out here, not imported from canvas/bodies.py, so a wrong constant there fails.
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
ROUTE_NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
NOT_FOUND = {"error": "Resource Not Found"}
UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
FORBIDDEN = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
BLANK_MESSAGE = {"error": "message is required"}
WWW_AUTHENTICATE = 'Bearer realm="canvas-lms"'

# (method, conversation id or None, messages suffix): every route, with a conversation id that
# does not matter because steps 1-5 come before the conversation is looked up.
ROUTES = [
    pytest.param("GET", None, False, id="active"),
    pytest.param("POST", None, False, id="create"),
    pytest.param("GET", 1, False, id="show"),
    pytest.param("POST", 1, True, id="post_message"),
    pytest.param("DELETE", 1, False, id="destroy"),
]


def _send(
    canvas: Canvas,
    method: str,
    conversation: int | None,
    messages: bool,
    token: str | None,
    course: str = "101",
    experience: str = "7",
) -> httpx.Response:
    path = canvas.path(conversation, messages=messages, course=course, experience=experience)
    body = {"json": {"message": "hello there"}} if messages else {}
    return canvas.call(method, path, token, **body)


def _assert_answer(response: httpx.Response, status: int, body: Any, www_authenticate: bool = False) -> None:
    assert (response.status_code, response.json()) == (status, body)
    assert (response.headers.get("www-authenticate") == WWW_AUTHENTICATE) is www_authenticate


@pytest.mark.parametrize(("method", "conversation", "messages"), ROUTES)
@pytest.mark.parametrize(
    ("token", "course", "experience", "status", "body", "www_authenticate"),
    [
        pytest.param("not-a-token", "101", "7", 401, INVALID_TOKEN, True, id="1-invalid-token"),
        pytest.param("not-a-token", "999", "7", 401, INVALID_TOKEN, True, id="1-invalid-token-before-course"),
        pytest.param("student", "999", "7", 404, ROUTE_NOT_FOUND, False, id="2-unknown-course"),
        pytest.param("student", "505", "7", 404, ROUTE_NOT_FOUND, False, id="2-deleted-course"),
        pytest.param("student", "sis_course_id:NOPE", "7", 404, ROUTE_NOT_FOUND, False, id="2-unknown-sis-id"),
        pytest.param(None, "999", "7", 404, ROUTE_NOT_FOUND, False, id="2-course-before-no-token"),
        pytest.param("student", "303", "30", 404, NOT_FOUND, False, id="3-feature-flag-off"),
        pytest.param(None, "303", "30", 404, NOT_FOUND, False, id="3-flag-off-even-without-token"),
        pytest.param("outsider", "303", "30", 404, NOT_FOUND, False, id="3-flag-off-before-membership"),
        pytest.param(None, "101", "7", 401, UNAUTHENTICATED, True, id="4-no-token"),
        pytest.param(None, "101", "999", 401, UNAUTHENTICATED, True, id="4-no-token-before-experience"),
        pytest.param("outsider", "101", "7", 403, FORBIDDEN, False, id="4-non-member"),
        pytest.param("outsider", "101", "999", 403, FORBIDDEN, False, id="4-non-member-before-experience"),
        pytest.param("student", "101", "999", 404, NOT_FOUND, False, id="5-unknown-experience"),
        pytest.param("student", "101", "10", 404, NOT_FOUND, False, id="5-deleted-experience"),
        pytest.param("student", "101", "20", 404, NOT_FOUND, False, id="5-other-courses-experience"),
        pytest.param("teacher", "101", "20", 404, NOT_FOUND, False, id="5-other-courses-experience-teacher"),
    ],
)
def test_authorization_steps_answer_in_canvas_order(
    canvas: Canvas,
    method: str,
    conversation: int | None,
    messages: bool,
    token: str | None,
    course: str,
    experience: str,
    status: int,
    body: Any,
    www_authenticate: bool,
) -> None:
    response = _send(canvas, method, conversation, messages, token, course, experience)
    _assert_answer(response, status, body, www_authenticate)


@pytest.mark.parametrize("experience", [pytest.param("7", id="published"), pytest.param("9", id="unpublished")])
@pytest.mark.parametrize(
    "course", [pytest.param("101", id="canvas-id"), pytest.param("sis_course_id:BIO-101-F26", id="sis-id")]
)
def test_every_route_succeeds_by_course_id_or_sis_id_and_on_unpublished_experience(
    canvas: Canvas, course: str, experience: str
) -> None:
    assert canvas.call("GET", canvas.path(course=course, experience=experience)).json() == {}
    created = canvas.call("POST", canvas.path(course=course, experience=experience))
    assert created.status_code == 201
    cid = created.json()["id"]
    posted = canvas.call(
        "POST", canvas.path(cid, messages=True, course=course, experience=experience), json={"message": "hi"}
    )
    assert posted.status_code == 200
    assert canvas.call("GET", canvas.path(cid, course=course, experience=experience), "teacher").status_code == 200
    assert canvas.call("DELETE", canvas.path(cid, course=course, experience=experience)).status_code == 200


@pytest.mark.parametrize(("method", "conversation", "messages"), ROUTES[2:])
def test_another_students_conversation_is_not_found(
    canvas: Canvas, method: str, conversation: int, messages: bool
) -> None:
    theirs = canvas.create("other_student")
    _assert_answer(_send(canvas, method, theirs["id"], messages, "student"), 404, NOT_FOUND)


@pytest.mark.parametrize("token", ["student", "teacher"])
@pytest.mark.parametrize(("method", "conversation", "messages"), ROUTES[2:])
def test_conversation_of_another_experience_is_not_found(
    canvas: Canvas, method: str, conversation: int, messages: bool, token: str
) -> None:
    in_eight = canvas.create(experience="8")
    _assert_answer(_send(canvas, method, in_eight["id"], messages, token, experience="7"), 404, NOT_FOUND)


@pytest.mark.parametrize("conversation", ["424242", "0", "abc", "1" * 25])
@pytest.mark.parametrize(("method", "unused", "messages"), ROUTES[2:])
def test_unknown_conversation_is_not_found(
    canvas: Canvas, method: str, unused: int, messages: bool, conversation: str
) -> None:
    path = canvas.path(conversation, messages=messages)
    response = canvas.call(method, path, "teacher", json={"message": "hi"} if messages else None)
    _assert_answer(response, 404, NOT_FOUND)


def test_show_of_own_active_conversation_is_forbidden_for_a_student(canvas: Canvas) -> None:
    mine = canvas.create()
    _assert_answer(canvas.call("GET", canvas.path(mine["id"])), 403, FORBIDDEN)


def test_non_member_gets_401_with_the_same_body_on_older_canvas(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(unauthorized_status=401)
    _assert_answer(canvas.call("GET", canvas.path(), "outsider"), 401, FORBIDDEN, www_authenticate=True)
    _assert_answer(canvas.call("GET", canvas.path(), None), 401, UNAUTHENTICATED, www_authenticate=True)


# -- post_message input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        pytest.param({}, id="no-body"),
        pytest.param({"json": {}}, id="json-without-message"),
        pytest.param({"json": {"message": ""}}, id="empty"),
        pytest.param({"json": {"message": " \t\n "}}, id="whitespace-only"),
        pytest.param({"json": {"message": None}}, id="null"),
        pytest.param({"data": {"message": ""}}, id="empty-form-field"),
        pytest.param({"params": {"message": "   "}}, id="whitespace-query"),
    ],
)
def test_blank_message_is_a_400(canvas: Canvas, send: dict[str, Any]) -> None:
    mine = canvas.create()
    _assert_answer(canvas.call("POST", canvas.path(mine["id"], messages=True), **send), 400, BLANK_MESSAGE)


def test_not_found_comes_before_the_blank_message_400(canvas: Canvas) -> None:
    theirs = canvas.create("other_student")
    response = canvas.call("POST", canvas.path(theirs["id"], messages=True), json={"message": ""})
    _assert_answer(response, 404, NOT_FOUND)
