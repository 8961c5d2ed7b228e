"""Answers from a faulty upstream are flagged (and still passed on as they came)."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.mock import world
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer
from fixtures.proxy import BASE, JSON, Proxied, RawHeaders, Scripted

STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
CONVERSATION = {
    "id": 1,
    "messages": [{"role": "User", "text": "prompt"}, {"role": "Assistant", "text": "question?"}],
    "progress": None,
}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "where"),
    [
        pytest.param(200, _json(CONVERSATION), [JSON], "status", "status", id="create-answers-200-not-201"),
        pytest.param(
            201, _json({**CONVERSATION, "progress": 0}), [JSON], "schema", "body.progress", id="wrong-progress-type"
        ),
        pytest.param(
            201,
            _json({**CONVERSATION, "llm_conversation_id": "leaked"}),
            [JSON],
            "schema",
            "body",
            id="leaks-llm-conversation-id",
        ),
        pytest.param(
            201,
            _json({**CONVERSATION, "messages": [{"role": "system", "text": "x"}, {"role": "User", "text": "y"}]}),
            [JSON],
            "schema",
            "body.messages[0].role",
            id="system-role",
        ),
        pytest.param(401, _json(bodies.INVALID_TOKEN), [JSON], "header", "header.WWW-Authenticate", id="401-no-header"),
        pytest.param(
            404,
            b"<h1>Not Found</h1>",
            [(b"content-type", b"text/html")],
            "content-type",
            "header.Content-Type",
            id="html",
        ),
        pytest.param(201, b"{not json", [JSON], "body", "body", id="not-json"),
        pytest.param(500, _json(bodies.INTERNAL_ERROR), [JSON], "status", "status", id="internal-error"),
        pytest.param(
            201,
            _json(CONVERSATION),
            [JSON, (b"x-request-cost", b"cheap")],
            "header",
            "header.X-Request-Cost",
            id="cost-not-a-float",
        ),
    ],
)
def test_a_faulty_answer_is_flagged_and_passed_on(
    scripted: tuple[Scripted, Proxied], status: int, body: bytes, headers: RawHeaders, kind: str, where: str
) -> None:
    upstream, proxied = scripted
    upstream.answer(status, body, headers)
    response = proxied.http.post(BASE, headers=STUDENT)
    assert (response.status_code, response.content) == (status, body)
    report = proxied.report.to_dict()
    assert report["totals"]["request_violations"] == 0
    assert report["totals"]["response_violations"] >= 1 and not report["passed"]
    assert {(v["side"], v["kind"], v["where"]) for v in report["violations"]} >= {("response", kind, where)}
    assert report["routes"]["createConversation"]["response_violations"][kind] >= 1


def test_a_conforming_answer_is_not_flagged(scripted: tuple[Scripted, Proxied]) -> None:
    upstream, proxied = scripted
    upstream.answer(201, _json(CONVERSATION), [JSON, (b"x-request-cost", b"1.0")])
    assert proxied.http.post(BASE, headers=STUDENT).status_code == 201
    assert proxied.report.passed, proxied.report.to_text()


def test_a_gzipped_answer_is_checked_after_decoding(scripted: tuple[Scripted, Proxied]) -> None:
    upstream, proxied = scripted
    packed = gzip.compress(_json({**CONVERSATION, "progress": "none"}))
    upstream.answer(201, packed, [JSON, (b"content-encoding", b"gzip")])
    response = proxied.http.post(BASE, headers={**STUDENT, "Accept-Encoding": "gzip"})
    assert response.json()["progress"] == "none"  # httpx undid the gzip the proxy passed on
    [violation] = proxied.report.to_dict()["violations"]
    assert violation["where"] == "body.progress"


def test_an_unreachable_upstream_is_a_502_named_in_the_report() -> None:
    with ProxyServer(ProxyConfig("http://127.0.0.1:9")) as proxy:
        response = httpx.post(f"{proxy.url}{BASE}", headers=STUDENT)
    assert response.status_code == 502 and "no answer from http://127.0.0.1:9" in response.json()["error"]
    assert proxy.report.to_dict()["answers_met"] == {"upstream error": 1}
