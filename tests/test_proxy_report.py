"""The conformance report: counts, answers met, client behaviour, files on exit, and never a token."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.mock import MockServer, world
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer, write_report
from canvas_ai_harness.proxy.observe import BehaviourObserver, Exchange
from fixtures.proxy import BASE, JSON, Proxied, Scripted
from fixtures.servers import TLS

STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
TEACHER = {"Authorization": f"Bearer {world.TEACHER_TOKEN}"}


def test_report_counts_requests_violations_and_answers(proxied: Proxied) -> None:
    http = proxied.http
    assert http.post(BASE, headers=STUDENT).status_code == 201
    assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "Light."}).status_code == 200
    assert http.post(f"{BASE}/1/messages", headers=STUDENT, content=b'{"message": "x"}').status_code == 400
    assert http.get(BASE).status_code == 401
    assert http.put(f"{BASE}/1", headers=STUDENT).status_code == 404
    assert http.get(BASE, headers=TEACHER).json() == {}

    report = proxied.report.to_dict()
    assert report["totals"] == {
        "requests": 6,
        "conforming_requests": 3,
        "non_conforming_requests": 3,
        "request_violations": 3,
        "response_violations": 0,
        "rejected": 0,
    }
    routes = report["routes"]
    assert {name: r["requests"] for name, r in routes.items()} == {
        "(no operation)": 1,
        "createConversation": 1,
        "getActiveConversation": 2,
        "postMessage": 2,
    }
    assert routes["postMessage"]["request_violations"] == {"content-type": 1}
    assert routes["getActiveConversation"]["request_violations"] == {"auth": 1}
    assert routes["(no operation)"]["request_violations"] == {"method": 1}
    assert report["answers_met"] == {"200": 1, "201": 1, "400": 1, "401": 1, "404": 1, "{}": 1}
    assert report["answers_not_met"] == ["403", "403 throttled", "429", "503"]
    assert [(v["request"], v["kind"]) for v in report["violations"]] == [
        (3, "content-type"),
        (4, "auth"),
        (5, "method"),
    ]
    assert {v["client"] for v in report["violations"]} == {"client-1", "anonymous"}


def test_tokens_never_appear_in_the_report_or_the_log(
    proxied: Proxied, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "7~unknownSecretTokenValue"
    http = proxied.http
    http.post(BASE, headers=STUDENT)
    # The token inside a bad message ends up in the validator's message about it.
    http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": [world.STUDENT_TOKEN]})
    http.get(f"{BASE}?access_token={world.TEACHER_TOKEN}")
    http.post(
        f"{BASE}/1/messages",
        content=f"message=&access_token={world.OTHER_STUDENT_TOKEN}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    http.get(f"{BASE}/x", headers={"Authorization": f"Bearer {unknown}"})
    paths = write_report(proxied.report, tmp_path / "report.json")
    texts = [p.read_text() for p in paths] + [caplog.text, proxied.report.to_text()]
    assert len(json.loads(texts[0])["violations"]) >= 3
    for text in texts:
        for token in (world.STUDENT_TOKEN, world.TEACHER_TOKEN, world.OTHER_STUDENT_TOKEN, unknown):
            assert token not in text
    assert "[REDACTED]" in texts[0]


_KINDS = {"403 throttled": answers.THROTTLED, "429": answers.THROTTLED}


def _exchange(seq: int, answer: str, *, at: float, op: str = "createConversation", **kw: object) -> Exchange:
    status = int(answer.split()[0]) if answer[0].isdigit() else 200
    fields: dict[str, object] = {
        "seq": seq,
        "client": "client-1",
        "method": "POST",
        "path": BASE,
        "operation_id": op,
        "conversation_id": None,
        "experience": "101/7",
        "body_digest": "",
        "started": at,
        "finished": at + 0.01,
        "status": status,
        "answer": answer,
        "kind": _KINDS.get(answer) or answers.classify(status, {"content-type": "application/json"}, b"{}"),
    }
    fields.update(kw)
    return Exchange(**fields)  # type: ignore[arg-type]


def _observe(*exchanges: Exchange, created: dict[int, str] | None = None) -> dict[str, int]:
    observer = BehaviourObserver()
    for exchange in exchanges:
        observer.observe(exchange, (created or {}).get(exchange.seq))
    observer.finish()
    return {name: b.count for name, b in observer.behaviours.items() if b.count}


def test_repeating_a_400_unchanged_is_a_problem() -> None:
    assert _observe(_exchange(1, "400", at=0), _exchange(2, "400", at=1)) == {"retried-client-error": 1}


def test_a_different_request_after_a_400_is_not_a_retry() -> None:
    assert _observe(_exchange(1, "400", at=0), _exchange(2, "200", at=1, body_digest="other")) == {}


@pytest.mark.parametrize(
    ("answer", "kind"), [pytest.param("503", "503", id="503"), pytest.param("403 throttled", "throttled", id="403")]
)
def test_retries_with_growing_waits_are_backoff(answer: str, kind: str) -> None:
    found = _observe(_exchange(1, answer, at=0), _exchange(2, answer, at=0.2), _exchange(3, "201", at=0.6))
    assert found == {f"retried-{kind}-with-backoff": 1}


def test_immediate_retries_after_a_429_are_not_backoff() -> None:
    found = _observe(_exchange(1, "429", at=0), _exchange(2, "429", at=0.011), _exchange(3, "429", at=0.022))
    assert found == {"retried-throttled-without-backoff": 1}


def test_not_retrying_a_503_is_noted() -> None:
    assert _observe(_exchange(1, "503", at=0)) == {"gave-up-after-503": 1}


def test_sending_to_a_conversation_the_client_closed_is_a_problem() -> None:
    found = _observe(
        _exchange(1, "201", at=0),
        _exchange(2, "200", at=1, method="DELETE", op="deleteConversation", conversation_id="5"),
        _exchange(3, "404", at=2, op="postMessage", conversation_id="5", path=f"{BASE}/5/messages"),
        created={1: "5"},
    )
    assert found == {"used-closed-conversation": 1}


def test_a_conversation_replaced_by_a_new_create_counts_as_closed() -> None:
    found = _observe(
        _exchange(1, "201", at=0),
        _exchange(2, "200", at=1, op="postMessage", conversation_id="5", path=f"{BASE}/5/messages"),
        _exchange(3, "201", at=2, body_digest="again"),
        _exchange(4, "404", at=3, op="postMessage", conversation_id="5", path=f"{BASE}/5/messages", body_digest="x"),
        created={1: "5", 3: "6"},
    )
    assert found == {"used-closed-conversation": 1}


def test_using_the_old_conversation_after_a_503_create_is_a_problem(scripted: tuple[Scripted, Proxied]) -> None:
    # Canvas closes the caller's active conversation before it calls its AI: a create answered 503
    # has closed it all the same (canvas.lifecycle).
    upstream, proxied = scripted
    body = {"id": 5, "messages": [{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}], "progress": None}
    upstream.answer(201, json.dumps(body).encode(), [JSON])
    upstream.answer(503, json.dumps({"error": "The AI service is temporarily unavailable."}).encode(), [JSON])
    upstream.answer(404, json.dumps({"error": "Resource Not Found"}).encode(), [JSON])
    assert proxied.http.post(BASE, headers=STUDENT).status_code == 201
    assert proxied.http.post(BASE, headers=STUDENT).status_code == 503
    proxied.http.post(f"{BASE}/5/messages", headers=STUDENT, json={"message": "still there?"})
    behaviours = {b["name"]: b for b in proxied.report.finish().to_dict()["behaviour"]}
    assert behaviours["used-closed-conversation"]["count"] == 1
    assert "conversation 5 was closed by #2" in behaviours["used-closed-conversation"]["examples"][0]


def test_two_creates_in_a_row_is_a_problem() -> None:
    found = _observe(_exchange(1, "201", at=0), _exchange(2, "201", at=1, body_digest="second"))
    assert found == {"double-create": 1}


def test_backoff_is_seen_through_the_proxy(scripted: tuple[Scripted, Proxied]) -> None:
    upstream, proxied = scripted
    upstream.answer(503, json.dumps({"error": "The AI service is temporarily unavailable."}).encode(), [JSON])
    upstream.answer(503, json.dumps({"error": "The AI service is temporarily unavailable."}).encode(), [JSON])
    body = {"id": 1, "messages": [{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}], "progress": None}
    upstream.answer(201, json.dumps(body).encode(), [JSON])
    # Each wait is at least MIN_BACKOFF_S and the second five times the first, so that a busy
    # machine's own delays cannot turn "waiting longer each time" into its opposite.
    for wait in (0.1, 0.5, 0.0):
        status = proxied.http.post(BASE, headers=STUDENT).status_code
        time.sleep(wait)
    assert status == 201
    [behaviour] = proxied.report.finish().to_dict()["behaviour"]
    assert behaviour["name"] == "retried-503-with-backoff" and behaviour["verdict"] == "good"


def test_max_requests_stops_the_proxy_and_writes_the_report(
    mock_servers: dict[str, MockServer], tmp_path: Path
) -> None:
    mock = mock_servers["completed"]
    mock.service.reset()
    config = ProxyConfig(mock.url, max_requests=2, report_path=tmp_path / "out" / "report.json")
    proxy = ProxyServer(config).start()
    try:
        with httpx.Client(base_url=proxy.url, verify=TLS) as http:
            http.post(BASE, headers=STUDENT)
            http.get(BASE, headers=STUDENT)
        assert proxy.wait(timeout=10), "the proxy did not stop after --max-requests"
    finally:
        proxy.stop()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["totals"]["requests"] == 2 and data["passed"]
    assert "Requests: 2 (2 conforming" in (tmp_path / "out" / "report.txt").read_text()
    assert (tmp_path / "out" / "report.html").read_text().startswith("<!doctype html>")


def test_a_4xx_repeated_later_with_requests_between_is_a_problem() -> None:
    found = _observe(
        _exchange(1, "400", at=0, op="postMessage", body_digest="blank"),
        _exchange(2, "200", at=1, op="getActiveConversation", method="GET", body_digest=""),
        _exchange(3, "201", at=2, body_digest="create"),
        _exchange(4, "400", at=3, op="postMessage", body_digest="blank"),
    )
    assert found == {"retried-client-error": 1}


def test_the_repeat_example_says_how_far_apart_the_two_were() -> None:
    observer = BehaviourObserver()
    for exchange in (
        _exchange(1, "400", at=0, body_digest="blank"),
        _exchange(2, "200", at=1, body_digest="ok"),
        _exchange(3, "400", at=2, body_digest="blank"),
    ):
        observer.observe(exchange)
    [example] = observer.behaviours["retried-client-error"].examples
    assert example.startswith("#3 repeated #1 (POST ") and "1 request after its 400; answered 400 again" in example


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param((("400", "blank"), ("200", "other"), ("400", "other-bad")), id="faithful-client"),
        pytest.param((("404", "same"), ("201", "create"), ("200", "same")), id="repeat-answered-2xx"),
        pytest.param((("404", "same"), ("400", "same")), id="repeat-answered-differently"),
        pytest.param((("400", "same"), ("200", "same"), ("400", "same")), id="a-2xx-between-clears-it"),
        pytest.param((("403 throttled", "same"), ("403 throttled", "same")), id="throttling-is-not-a-4xx-refusal"),
    ],
)
def test_repeats_are_quiet_unless_the_same_4xx_comes_back(stream: tuple[tuple[str, str], ...]) -> None:
    exchanges = [_exchange(i, answer, at=i, body_digest=body) for i, (answer, body) in enumerate(stream, 1)]
    assert "retried-client-error" not in _observe(*exchanges)


def test_a_blank_message_sent_twice_apart_is_flagged_through_the_proxy(proxied: Proxied) -> None:
    http = proxied.http
    assert http.post(BASE, headers=STUDENT).status_code == 201
    assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "   "}).status_code == 400
    assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "Light."}).status_code == 200
    assert http.get(BASE, headers=STUDENT).status_code == 200
    assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "   "}).status_code == 400
    behaviours = {b["name"]: b for b in proxied.settled(5).finish().to_dict()["behaviour"]}
    assert behaviours["retried-client-error"]["count"] == 1
    assert behaviours["retried-client-error"]["examples"][0].startswith("#5 repeated #2 ")
