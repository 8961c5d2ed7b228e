"""The proxy flags each kind of non-conforming request; with --strict it answers 400 and forwards nothing."""

from __future__ import annotations

from typing import Any

import pytest

from canvas_ai_harness.mock import world
from fixtures.proxy import BASE, Proxied

STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}


def _start(proxied: Proxied) -> int:
    """Create a conversation directly on the mock (not through the proxy); return its id."""
    response = proxied.direct.post(BASE, headers=STUDENT)
    assert response.status_code == 201
    conversation_id: int = response.json()["id"]
    return conversation_id


def _violations(proxied: Proxied) -> list[dict[str, Any]]:
    data = proxied.report.to_dict()
    assert data["totals"]["requests"] == 1
    violations: list[dict[str, Any]] = data["violations"]
    assert all(v["side"] == "request" for v in violations)
    return violations


def test_a_conforming_request_is_not_flagged(proxied: Proxied) -> None:
    conversation_id = _start(proxied)
    response = proxied.http.post(f"{BASE}/{conversation_id}/messages", headers=STUDENT, json={"message": "Hello"})
    assert response.status_code == 200
    assert proxied.report.passed and proxied.report.to_dict()["totals"]["conforming_requests"] == 1


def test_wrong_method_is_flagged_and_forwarded(proxied: Proxied) -> None:
    conversation_id = _start(proxied)
    response = proxied.http.put(f"{BASE}/{conversation_id}", headers=STUDENT)
    assert response.status_code == 404  # Canvas's routing answers 404, not 405
    [violation] = _violations(proxied)
    assert violation["kind"] == "method"
    assert "PUT" in violation["message"] and "DELETE, GET" in violation["message"]


def test_missing_message_is_flagged(proxied: Proxied) -> None:
    conversation_id = _start(proxied)
    response = proxied.http.post(f"{BASE}/{conversation_id}/messages", headers=STUDENT, json={"text": "hi"})
    assert response.status_code == 400
    [violation] = _violations(proxied)
    assert violation["kind"] == "body" and 'the body has no "message"' in violation["message"]


def test_json_body_without_content_type_is_flagged(proxied: Proxied) -> None:
    conversation_id = _start(proxied)
    response = proxied.http.post(f"{BASE}/{conversation_id}/messages", headers=STUDENT, content=b'{"message": "hi"}')
    assert response.status_code == 400  # Canvas cannot read a body it has no type for
    [violation] = _violations(proxied)
    assert violation["kind"] == "content-type" and violation["where"] == "header.Content-Type"


def test_unknown_route_is_flagged(proxied: Proxied) -> None:
    response = proxied.http.get("/api/v1/courses/101/ai_experiences/7/transcripts", headers=STUDENT)
    assert response.status_code == 404
    [violation] = _violations(proxied)
    assert violation["kind"] == "route" and violation["operation"] is None
    assert "known routes" in violation["message"]
    assert proxied.report.to_dict()["routes"]["(no operation)"]["requests"] == 1


def test_missing_token_is_flagged(proxied: Proxied) -> None:
    response = proxied.http.get(BASE)
    assert response.status_code == 401
    [violation] = _violations(proxied)
    assert violation["kind"] == "auth" and violation["client"] == "anonymous"


@pytest.mark.parametrize(
    ("path", "where"),
    [
        pytest.param(f"{BASE}/abc", "path.id", id="non-numeric-conversation-id"),
        pytest.param(f"{BASE}/0", "path.id", id="zero-conversation-id"),
        pytest.param(
            "/api/v1/courses/101/ai_experiences/seven/conversations", "path.ai_experience_id", id="experience"
        ),
        pytest.param("/api/v1/courses/biology/ai_experiences/7/conversations", "path.course_id", id="course"),
    ],
)
def test_bad_ids_are_flagged(proxied: Proxied, path: str, where: str) -> None:
    response = proxied.http.get(path, headers=STUDENT)
    assert response.status_code == 404
    [violation] = _violations(proxied)
    assert violation["kind"] == "parameter" and violation["where"] == where


def test_strict_answers_400_with_the_reason_and_forwards_nothing(strict_proxied: Proxied) -> None:
    service = strict_proxied.direct  # the mock: its store must not change
    before = service.get("/__harness__/stats").json()["conversations"]
    response = strict_proxied.http.post(BASE)  # no token
    assert response.status_code == 400
    body = response.json()
    assert "was not forwarded" in body["error"]
    assert [v["kind"] for v in body["violations"]] == ["auth"]
    assert body["violations"][0]["where"] == "header.Authorization"
    assert service.get("/__harness__/stats").json()["conversations"] == before
    report = strict_proxied.report.to_dict()
    assert report["totals"]["rejected"] == 1 and report["violations"][0]["status"] is None


def test_strict_names_every_violation_of_one_request(strict_proxied: Proxied) -> None:
    response = strict_proxied.http.post(f"{BASE}/abc/messages", json={"message": ""})
    assert response.status_code == 400
    kinds = {v["kind"] for v in response.json()["violations"]}
    assert kinds == {"auth", "body", "parameter"}


def test_strict_forwards_a_conforming_request(strict_proxied: Proxied) -> None:
    response = strict_proxied.http.post(BASE, headers=STUDENT)
    assert response.status_code == 201
    assert strict_proxied.report.passed


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        pytest.param("POST", f"{BASE}/1/messages", {"Content-Type": "application/json"}, b"\xff\xfe", id="not-utf8"),
        pytest.param(
            "POST", f"{BASE}/1/messages", {"Content-Type": "application/json"}, b'{"message": ', id="bad-json"
        ),
        pytest.param("POST", f"{BASE}/1/messages", {"Content-Type": "text/csv"}, b"message,hi", id="csv"),
        pytest.param("GET", f"{BASE}/%ff%00/..%2f", {}, b"", id="odd-encoding"),
        pytest.param("OPTIONS", BASE, {}, b"", id="options"),
        pytest.param("GET", f"{BASE}/{'9' * 40}", {}, b"", id="huge-id"),
    ],
)
def test_odd_requests_are_flagged_never_a_proxy_error(
    proxied: Proxied, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = proxied.http.request(method, path, headers={**STUDENT, **headers}, content=body)
    assert response.status_code < 500
    report = proxied.report.to_dict()
    assert report["totals"]["non_conforming_requests"] == 1 and report["totals"]["response_violations"] == 0
