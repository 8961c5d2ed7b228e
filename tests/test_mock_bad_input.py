"""Bad input gets a 4xx from the mock, never a 500 or a hang."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig, MockServer
from fixtures.custom_servers import StartCanvas
from fixtures.generation import SLOW_OK
from fixtures.servers import Canvas

MALFORMED = {"errors": [{"message": "The request body could not be parsed."}]}
TOO_LARGE = {"errors": [{"message": "Request entity too large."}]}
BLANK_MESSAGE = {"error": "message is required"}
ROUTE_NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
NOT_FOUND = {"error": "Resource Not Found"}
JSON = {"Content-Type": "application/json"}


def _raw(server: MockServer, request: bytes, half_close: bool = False) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side normalisation); return the status and the body."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _post_raw(canvas: Canvas, body: bytes, content_type: str | None = "application/json") -> tuple[int, Any]:
    cid = canvas.create()["id"]
    headers = {"Content-Type": content_type} if content_type else {}
    response = canvas.call("POST", canvas.path(cid, messages=True), content=body, headers=headers)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b'{"message": "unterminated', "application/json", id="malformed-json"),
        pytest.param(b'{"message": "caf\xe9"}', "application/json", id="invalid-utf8-json"),
        pytest.param(b"message=caf\xe9", "application/x-www-form-urlencoded", id="invalid-utf8-form"),
        pytest.param(b"message=%FF%FE", "application/x-www-form-urlencoded", id="undecodable-percent-form"),
        pytest.param(b'{"message": "\\ud800 lone surrogate"}', "application/json", id="lone-surrogate"),
        pytest.param(
            b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json", id="nested-50000-deep"
        ),
        pytest.param(b'{"message": ' + b"9" * 5000 + b"}", "application/json", id="5000-digit-number"),
    ],
)
def test_unparseable_body_is_a_400(canvas: Canvas, body: bytes, content_type: str) -> None:
    assert _post_raw(canvas, body, content_type) == (400, MALFORMED)


def test_conversation_still_works_after_a_refused_lone_surrogate(canvas: Canvas) -> None:
    cid = canvas.create()["id"]
    path = canvas.path(cid, messages=True)
    canvas.call("POST", path, content=b'{"message": "\\udfff"}', headers=JSON)
    assert canvas.call("POST", path, json={"message": "hello again"}).status_code == 200
    assert canvas.call("GET", canvas.path()).status_code == 200


def test_undecodable_query_is_a_400(canvas: Canvas) -> None:
    cid = canvas.create()["id"]
    response = canvas.call("POST", canvas.path(cid, messages=True) + "?message=%C3%28")
    assert (response.status_code, response.json()) == (400, MALFORMED)


def test_invalid_percent_escape_is_not_a_server_error(canvas: Canvas) -> None:
    cid = canvas.create()["id"]
    response = canvas.call("POST", canvas.path(cid, messages=True) + "?message=%ZZ%")
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"message=hello", "text/plain", id="text-plain"),
        pytest.param(b"<message>hello</message>", "application/xml", id="xml"),
        pytest.param(
            b'--x\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--x--',
            "multipart/form-data; boundary=x",
            id="multipart",
        ),
        pytest.param(b'{"message": "hello"}', None, id="json-without-content-type"),
        pytest.param(b'["message", "hello"]', "application/json", id="json-array"),
        pytest.param(b'"hello"', "application/json", id="json-string"),
        pytest.param(b"null", "application/json", id="json-null"),
        pytest.param(b'{"message": {"text": "hello"}}', "application/json", id="message-is-an-object"),
        pytest.param(b'{"message": ["hello"]}', "application/json", id="message-is-a-list"),
        pytest.param(b'{"message": false}', "application/json", id="message-is-false"),
    ],
)
def test_message_canvas_cannot_read_is_a_blank_message_400(
    canvas: Canvas, body: bytes, content_type: str | None
) -> None:
    assert _post_raw(canvas, body, content_type) == (400, BLANK_MESSAGE)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/vnd.api+json",
        "application/json;charset=latin-1",
    ],
)
def test_json_variants_are_read_as_json(canvas: Canvas, content_type: str) -> None:
    status, body = _post_raw(canvas, '{"message": "héllo"}'.encode(), content_type)
    assert status == 200 and body["messages"][-2]["text"] == "héllo"


# -- body size ---------------------------------------------------------------------------------------------


def test_body_over_the_limit_is_a_413_by_content_length(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(max_body_bytes=64)
    cid = canvas.create()["id"]
    response = canvas.call("POST", canvas.path(cid, messages=True), json={"message": "x" * 200})
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert canvas.call("POST", canvas.path(cid, messages=True), json={"message": "short"}).status_code == 200


def test_body_over_the_limit_is_a_413_when_chunked(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(max_body_bytes=64)
    cid = canvas.create()["id"]

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'"}'

    response = canvas.call("POST", canvas.path(cid, messages=True), content=chunks(), headers=JSON)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


def test_body_at_the_limit_is_read(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(max_body_bytes=64)
    cid = canvas.create()["id"]
    body = json.dumps({"message": "x" * 49}).encode()
    assert len(body) == 64
    assert canvas.call("POST", canvas.path(cid, messages=True), content=body, headers=JSON).status_code == 200


def test_client_leaving_mid_body_does_not_hang_the_server(canvas: Canvas) -> None:
    head = f"POST {canvas.path(1, messages=True)} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    status, _ = _raw(canvas.server, head.encode() + b'{"mess', half_close=True)
    assert status == 0 or 400 <= status < 500
    assert canvas.call("GET", canvas.path()).status_code == 200


# -- ids and paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("course", "experience", "body"),
    [
        pytest.param("1" * 25, "7", ROUTE_NOT_FOUND, id="25-digit-course"),
        pytest.param("101", "1" * 25, NOT_FOUND, id="25-digit-experience"),
        pytest.param("-101", "7", ROUTE_NOT_FOUND, id="negative-course"),
        pytest.param("101", "\u0667", NOT_FOUND, id="arabic-indic-digit"),
    ],
)
def test_odd_ids_are_not_found(canvas: Canvas, course: str, experience: str, body: Any) -> None:
    response = canvas.call("GET", canvas.path(course=course, experience=experience))
    assert response.status_code == 404 and response.json() in (body, NOT_FOUND)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/api/v1/courses/101/../courses/101/ai_experiences/7/conversations", id="dot-dot"),
        pytest.param(b"/api/v1/courses/101%00/ai_experiences/7/conversations", id="percent-00"),
        pytest.param(b"/api/v1/courses/%FF/ai_experiences/7/conversations", id="undecodable-segment"),
        pytest.param(b"/api/v1/courses/101/ai_experiences/7/conversations/" + b"9" * 8000, id="8000-character-id"),
        pytest.param(b"//api//v1", id="empty-segments"),
    ],
)
def test_path_junk_is_a_404(canvas: Canvas, target: bytes) -> None:
    request = (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mock-student-token\r\nConnection: close\r\n\r\n"
    )
    status, body = _raw(canvas.server, request)
    assert status == 404
    assert json.loads(body) in (ROUTE_NOT_FOUND, NOT_FOUND)


def test_encoded_slash_is_not_a_server_error(canvas: Canvas) -> None:
    # uvicorn decodes %2F before the mock sees the path, so this may reach the route (Rails would not).
    target = b"/api/v1/courses/101%2Fai_experiences/7/conversations"
    status, _ = _raw(canvas.server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status in (401, 404)


def test_path_longer_than_the_server_reads_is_refused_quickly(canvas: Canvas) -> None:
    status, _ = _raw(canvas.server, b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 0 or 400 <= status < 500


# -- anything at all, in-process ---------------------------------------------------------------------------

_SEGMENTS = ["api", "v1", "courses", "101", "303", "sis_course_id:BIO-101-F26", "ai_experiences", "7", "9", "10"]
_SEGMENTS += ["conversations", "messages", "1", "2", ".json", "1.json", "..", "", "\x00", "1" * 25, "-1", "%FF"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_params = st.dictionaries(
    st.sampled_from(["message", "access_token", "as_user_id", "x"]) | st.text(max_size=5),
    st.text(max_size=20),
    max_size=3,
)
_requests = st.builds(
    ApiRequest,
    method=st.sampled_from(["GET", "POST", "DELETE", "HEAD", "PUT", "PATCH", "OPTIONS"]) | st.text(max_size=8),
    path=st.lists(st.sampled_from(_SEGMENTS) | st.text(max_size=6), max_size=10).map(lambda s: "/" + "/".join(s))
    | st.sampled_from(
        [
            "/api/v1/courses/101/ai_experiences/7/conversations",
            "/api/v1/courses/101/ai_experiences/7/conversations/1/messages",
        ]
    ),
    query=_params.map(urlencode) | st.text(max_size=30),
    headers=st.fixed_dictionaries(
        {},
        optional={
            "authorization": st.sampled_from(
                [
                    "Bearer mock-student-token",
                    "Bearer mock-teacher-token",
                    "Bearer mock-admin-token",
                    "Basic x",
                    "Bearer",
                ]
            )
            | st.text(max_size=20),
            "content-type": st.sampled_from(
                ["application/json", "application/x-www-form-urlencoded", "text/plain", "application/x+json"]
            )
            | st.text(max_size=20),
            "accept": st.sampled_from(["application/json+canvas-string-ids", "*/*"]),
        },
    ),
    body=st.binary(max_size=64)
    | _json_values.map(lambda v: json.dumps(v).encode())
    | _params.map(lambda p: urlencode(p).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK)
@given(requests=st.lists(_requests, min_size=1, max_size=4))
def test_any_request_gets_a_json_or_plain_text_answer_below_500(requests: list[ApiRequest]) -> None:
    service = CanvasService(MockConfig(profile="ended"))
    for token in ("mock-student-token", "mock-teacher-token"):
        service.respond(
            ApiRequest(
                "POST",
                "/api/v1/courses/101/ai_experiences/7/conversations",
                headers={"authorization": f"Bearer {token}"},
            ),
            sleep=None,
        )
    for request in requests:
        response = service.respond(request, sleep=None)
        assert 200 <= response.status < 500, (request, response)
        if response.content_type.startswith("application/json"):
            if request.method != "HEAD":
                json.loads(response.body.decode("utf-8"))
        else:
            assert response.content_type.startswith("text/plain")
            response.body.decode("utf-8")
