"""The proxy forwards a conforming client's traffic unchanged: status, headers and bytes, both ways."""

from __future__ import annotations

import json
from typing import Any

import httpx

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.mock import world
from fixtures.proxy import BASE, JSON, Proxied, Scripted

STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}


def _conversation_run(http: httpx.Client) -> list[tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """A student's whole session; returns each answer as (status, raw headers but the date, body)."""
    answers = []
    runs: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("GET", BASE, {}),
        ("POST", BASE, {}),
        ("POST", f"{BASE}/1/messages", {"json": {"message": "Light becomes chemical energy."}}),
        ("POST", f"{BASE}/1/messages", {"data": {"message": "Chlorophyll absorbs it."}}),
        ("GET", BASE, {"headers": {**STUDENT, "Accept": bodies.CANVAS_STRING_IDS}}),
        ("DELETE", f"{BASE}/1", {}),
        ("POST", f"{BASE}/1/messages", {"json": {"message": "Still there?"}}),
    )
    for method, path, kwargs in runs:
        headers = kwargs.pop("headers", STUDENT)
        response = http.request(method, path, headers=headers, **kwargs)
        raw = [(k, v) for k, v in response.headers.raw if k.lower() != b"date"]
        answers.append((response.status_code, raw, response.content))
    return answers


def test_a_conversation_through_the_proxy_gets_the_answers_it_gets_directly(proxied: Proxied) -> None:
    direct = _conversation_run(proxied.direct)
    proxied.direct.post("/__harness__/reset")  # the same seed again: the same ids and replies
    through = _conversation_run(proxied.http)
    assert [status for status, _, _ in direct] == [200, 201, 200, 200, 200, 200, 404]
    assert through == direct
    assert proxied.report.passed, proxied.report.to_text()


def test_response_status_headers_and_bytes_pass_unchanged(scripted: tuple[Scripted, Proxied]) -> None:
    upstream, proxied = scripted
    body = (
        b'{"id":  7, "messages": [{"role":"User","text":"\\u00e9t\\u00e9"},'
        b'{"role":"Assistant","text":"Hi"}],\n "progress": null}'
    )
    headers = [
        JSON,
        (b"X-Request-Cost", b"0.01364120000000003"),
        (b"x-rate-limit-remaining", b"749.9863588"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Server", b"nginx"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    upstream.answer(201, body, headers)
    response = proxied.http.post(BASE, headers=STUDENT)
    assert response.status_code == 201
    assert response.content == body
    # Names are case-insensitive; uvicorn writes them lower-case, as Canvas does. Order, values, repeats kept.
    assert response.headers.raw == [(name.lower(), value) for name, value in headers]
    assert proxied.report.passed, proxied.report.to_text()


def test_requests_reach_the_upstream_unchanged_but_for_host_and_hop_by_hop_headers(
    scripted: tuple[Scripted, Proxied],
) -> None:
    upstream, proxied = scripted
    upstream.answer(200, json.dumps({"id": 1, "messages": [], "progress": None}).encode())
    body = b'{"message": "caf\xc3\xa9 %2F & more"}'
    sent = [
        (b"Authorization", f"Bearer {world.STUDENT_TOKEN}".encode()),
        (b"Content-Type", b"application/json"),
        (b"X-Custom", b"kept"),
        (b"Accept", b"application/json+canvas-string-ids, application/json"),
    ]
    proxied.http.post(
        f"{BASE}/1/messages?as_user_id=11&x=%2F%20",
        headers=[*sent, (b"Proxy-Authorization", b"Basic xyz"), (b"Connection", b"X-Hop"), (b"X-Hop", b"1")],
        content=body,
    )
    [received] = upstream.received
    assert received["method"] == "POST"
    assert received["raw_path"] == f"{BASE}/1/messages".encode()
    assert received["query_string"] == b"as_user_id=11&x=%2F%20"
    assert received["body"] == body
    names = [k.lower() for k, _ in received["headers"]]
    assert not {b"proxy-authorization", b"connection", b"x-hop"} & set(names)
    forwarded = {(k.lower(), v) for k, v in received["headers"]}
    assert {(k.lower(), v) for k, v in sent} <= forwarded
    assert (b"content-length", str(len(body)).encode()) in forwarded
