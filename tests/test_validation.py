"""SpecValidator: quiet on Canvas's own traffic (the mock's), loud on each kind of departure."""

from __future__ import annotations

import json

import pytest

from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig
from canvas_ai_harness.validation import SpecValidator, Violation

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
STUDENT = {"authorization": "Bearer mock-student-token"}
TEACHER = {"authorization": "Bearer mock-teacher-token"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator()


def _exchange(
    validator: SpecValidator, service: CanvasService, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[list[Violation], list[Violation], int]:
    operation, request_problems = validator.validate_request(method, path, "", headers, body)
    response = service.respond(ApiRequest(method, path, "", headers, body), sleep=None)
    assert operation is not None
    response_headers = {"content-type": response.content_type, **response.headers}
    return (
        request_problems,
        validator.validate_response(operation.operation_id, response.status, response_headers, response.body),
        response.status,
    )


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_mock_traffic_of_every_route_and_status_conforms(validator: SpecValidator, profile: str) -> None:
    service = CanvasService(MockConfig(profile=profile))
    statuses = set()
    conversation = json.loads(service.respond(ApiRequest("POST", BASE, headers=STUDENT), sleep=None).body)["id"]
    exchanges = [
        ("GET", BASE, STUDENT, b""),
        ("POST", BASE, STUDENT, b""),
        ("GET", BASE, STUDENT, b""),
        (
            "POST",
            f"{BASE}/{conversation + 1}/messages",
            {**STUDENT, **JSON},
            b'{"message": "Light becomes sugar here"}',
        ),
        ("POST", f"{BASE}/{conversation + 1}/messages", {**STUDENT, **JSON}, b'{"message": "   "}'),
        ("GET", f"{BASE}/{conversation + 1}", TEACHER, b""),
        ("GET", f"{BASE}/{conversation + 1}", STUDENT, b""),
        ("GET", f"{BASE}/{conversation}", STUDENT, b""),
        ("GET", BASE, {"authorization": "Bearer wrong-token"}, b""),
        ("GET", BASE, {"authorization": "Bearer mock-outsider-token"}, b""),
        ("DELETE", f"{BASE}/{conversation + 1}", STUDENT, b""),
        ("GET", "/api/v1/courses/303/ai_experiences/30/conversations", STUDENT, b""),
        ("GET", "/api/v1/courses/999/ai_experiences/7/conversations", STUDENT, b""),
    ]
    for method, path, headers, body in exchanges:
        _, response_problems, status = _exchange(validator, service, method, path, headers, body)
        statuses.add(status)
        assert response_problems == [], (method, path, status)
    assert statuses >= {200, 201, 400, 401, 403, 404}


def test_no_token_response_conforms_and_request_is_flagged(validator: SpecValidator) -> None:
    request_problems, response_problems, status = _exchange(validator, CanvasService(), "GET", BASE, {})
    assert status == 401
    assert response_problems == []
    assert [p.kind for p in request_problems] == ["auth"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "kind"),
    [
        pytest.param("PUT", BASE, STUDENT, b"", "method", id="wrong-method"),
        pytest.param("GET", "/api/v1/courses/101/quizzes", STUDENT, b"", "route", id="unknown-route"),
        pytest.param("GET", BASE, {}, b"", "auth", id="missing-token"),
        pytest.param("GET", f"{BASE}/abc", STUDENT, b"", "parameter", id="non-integer-id"),
        pytest.param("GET", f"{BASE}/{'9' * 25}", STUDENT, b"", "parameter", id="id-over-64-bits"),
        pytest.param(
            "GET", "/api/v1/courses/bio/ai_experiences/7/conversations", STUDENT, b"", "parameter", id="bad-course-ref"
        ),
        pytest.param(
            "POST", f"{BASE}/1/messages", STUDENT, b'{"message": "hi"}', "content-type", id="json-without-content-type"
        ),
        pytest.param(
            "POST",
            f"{BASE}/1/messages",
            {**STUDENT, "content-type": "text/plain"},
            b"hi",
            "content-type",
            id="undeclared-content-type",
        ),
        pytest.param("POST", f"{BASE}/1/messages", {**STUDENT, **JSON}, b"", "body", id="missing-body"),
        pytest.param(
            "POST", f"{BASE}/1/messages", {**STUDENT, **JSON}, b'{"text": "hi"}', "body", id="missing-message"
        ),
        pytest.param(
            "POST", f"{BASE}/1/messages", {**STUDENT, **JSON}, b'{"message": " "}', "body", id="blank-message"
        ),
        pytest.param("POST", f"{BASE}/1/messages", {**STUDENT, **JSON}, b"{oops", "body", id="malformed-json"),
    ],
)
def test_non_conforming_request_is_flagged(
    validator: SpecValidator, method: str, path: str, headers: dict[str, str], body: bytes, kind: str
) -> None:
    _, problems = validator.validate_request(method, path, "", headers, body)
    assert kind in [p.kind for p in problems], problems


@pytest.mark.parametrize(
    "query_or_header",
    [pytest.param(("access_token=abc", {}), id="access-token-query"), pytest.param(("", STUDENT), id="bearer-header")],
)
def test_either_token_form_satisfies_auth(
    validator: SpecValidator, query_or_header: tuple[str, dict[str, str]]
) -> None:
    query, headers = query_or_header
    _, problems = validator.validate_request("GET", BASE + ".json", query, headers)
    assert problems == []


def test_form_encoded_message_conforms(validator: SpecValidator) -> None:
    headers = {**STUDENT, "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    _, problems = validator.validate_request("POST", f"{BASE}/1/messages", "", headers, b"message=caf%C3%A9")
    assert problems == []


CONVERSATION = {
    "id": 1,
    "messages": [{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}],
    "progress": None,
}


@pytest.mark.parametrize(
    ("operation_id", "status", "headers", "body", "kind"),
    [
        pytest.param("createConversation", 200, JSON, CONVERSATION, "status", id="create-200"),
        pytest.param(
            "createConversation", 201, JSON, {**CONVERSATION, "llm_conversation_id": "x"}, "schema", id="leaked-field"
        ),
        pytest.param(
            "postMessage",
            200,
            JSON,
            {**CONVERSATION, "messages": [{"role": "user", "text": "p"}] * 2},
            "schema",
            id="lower-case-role",
        ),
        pytest.param(
            "postMessage", 200, JSON, {"id": 1, "messages": CONVERSATION["messages"]}, "schema", id="progress-missing"
        ),
        pytest.param("getConversation", 200, JSON, {**CONVERSATION, "user_id": 11}, "schema", id="user-id-integer"),
        pytest.param(
            "getActiveConversation",
            401,
            JSON,
            {"errors": [{"message": "Invalid access token."}]},
            "header",
            id="401-without-www-authenticate",
        ),
        pytest.param("getActiveConversation", 200, {"content-type": "text/html"}, {}, "content-type", id="html"),
        pytest.param("deleteConversation", 200, JSON, {"message": "Deleted"}, "schema", id="destroy-message"),
    ],
)
def test_non_conforming_response_is_flagged(
    validator: SpecValidator, operation_id: str, status: int, headers: dict[str, str], body: object, kind: str
) -> None:
    problems = validator.validate_response(operation_id, status, headers, json.dumps(body).encode())
    assert kind in [p.kind for p in problems], problems


def test_non_json_body_is_flagged(validator: SpecValidator) -> None:
    problems = validator.validate_response("getActiveConversation", 200, JSON, b"<html>")
    assert [p.kind for p in problems] == ["body"]


def test_violation_message_names_the_expectation(validator: SpecValidator) -> None:
    problems = validator.validate_response("createConversation", 418, JSON, b"{}")
    assert "201" in problems[0].message and "418" in problems[0].message
