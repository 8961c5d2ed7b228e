"""The generator's lean hot path keeps the verdict: what is checked on every answer, what is
sampled, what goes over the wire, and students sharing a process's kept-alive connections.

The runs are a few seconds of a few users, locust in a subprocess (``run_load``); the mock runs
in-process, so a test can count what reached it.
"""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from canvas_ai_harness.load import LoadOptions, run_load
from canvas_ai_harness.load.behaviour import compose_message
from canvas_ai_harness.load.checks import ResponseChecker, may_hold_ai_id
from canvas_ai_harness.load.wire import Reply, loads, message_body, parse_json
from canvas_ai_harness.mock import Latency, MockServer

_PROGRESS = {"current": 0, "total": 1, "percentage": 0, "objectives": [{"objective": "o", "status": ""}]}
_HEADERS = {"content-type": "application/json; charset=utf-8"}


def _answer(text: str = "question?", **extra: object) -> bytes:
    messages = [{"role": "User", "text": "prompt"}, {"role": "Assistant", "text": text}]
    return json.dumps({"id": 7, "messages": messages, "progress": _PROGRESS, **extra}).encode()


# -- the screen on every answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation, body",
    [
        pytest.param("createConversation", _answer(llm_conversation_id="abc"), id="create-top-level"),
        pytest.param("postMessage", _answer(meta={"conversation_id": "abc"}), id="post-nested"),
        pytest.param("getActiveConversation", _answer(llm_conversation_id=None), id="active-null-value"),
    ],
)
def test_the_screen_suspects_an_answer_holding_the_ai_services_id_and_the_full_check_confirms(
    operation: str, body: bytes
) -> None:
    assert may_hold_ai_id(operation, body)
    problems = ResponseChecker().check(operation, 201 if operation == "createConversation" else 200, _HEADERS, body)
    assert any("the AI service's id" in p for p in problems), problems


@pytest.mark.parametrize(
    "operation, body",
    [
        pytest.param("createConversation", _answer(), id="faithful-create"),
        pytest.param("postMessage", _answer('what is a "conversation_id"?'), id="key-name-quoted-in-a-text"),
        pytest.param("postMessage", _answer("my conversation_id is 5"), id="key-name-in-a-text"),
        pytest.param("getConversation", _answer(llm_conversation_id="abc"), id="show-may-expose-it"),
    ],
)
def test_the_screen_stays_quiet_on_faithful_answers_and_on_show(operation: str, body: bytes) -> None:
    assert not may_hold_ai_id(operation, body)


# -- the wire --------------------------------------------------------------------------------------


def test_a_message_body_is_the_json_canvas_reads_for_every_generated_message() -> None:
    rng = random.Random(4)
    for _ in range(300):
        text = compose_message(rng)
        body = message_body(text)
        assert json.loads(body) == {"message": text}
        assert body.decode("utf-8") == json.dumps({"message": text}, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "body, expected",
    [
        pytest.param(b'{"id": 12345678901234567890123}', {"id": 12345678901234567890123}, id="int-past-64-bits"),
        pytest.param(b'{"x": NaN}', "nan", id="nan-as-json-takes-it"),
        pytest.param(b"<html>502</html>", None, id="not-json"),
        pytest.param(b"\xff\xfe", None, id="not-utf8"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_parsing_gives_what_the_standard_library_gives(body: bytes, expected: Any) -> None:
    parsed = parse_json(body)
    if expected == "nan":
        assert parsed["x"] != parsed["x"]
    else:
        assert parsed == expected
    if expected is None:
        with pytest.raises(ValueError):
            loads(body)


def test_a_reply_parses_its_body_once() -> None:
    reply = Reply(200, _answer(), "ok", 1.0)
    first = reply.json()
    assert first["id"] == 7 and reply.json() is first
    assert Reply(502, b"<html>", "error", 1.0).json() is None


# -- whole runs ----------------------------------------------------------------------------------


def _options(server: MockServer, tmp_path: Path, **changes: Any) -> LoadOptions:
    settings: dict[str, Any] = {
        "target": server.target(),
        "users": 3,
        "spawn_rate": 3,
        "run_time": 4,
        "think_scale": 0.02,
        "teachers": 0,
        "report_dir": tmp_path / "report",
    }
    return LoadOptions(**{**settings, **changes})


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_leaked_ai_id_fails_the_run_on_every_answer_even_with_no_sampled_check(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(5, 1), faults=frozenset({"llm-id-in-post"}))
    result = run_load(_options(server, tmp_path, contract_sample=0.0))
    summary = result.summary
    assert result.exit_code == 1, result.render()
    posts = summary["routes"]["postMessage"]["outcomes"]
    assert posts["contract"] > 0 and posts["ok"] == 0, posts  # every leaking answer, none sampled
    assert summary["contract"]["sampled"] == posts["contract"]
    assert any("the AI service's id" in example for example in summary["contract"]["examples"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_faithful_run_with_no_sampled_check_checks_nothing_and_passes(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(5, 1))
    result = run_load(_options(server, tmp_path, contract_sample=0.0))
    assert result.passed, result.render()
    assert result.summary["totals"]["contract"] == 0 and result.summary["contract"]["sampled"] == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_students_of_one_process_share_a_few_kept_alive_connections_not_one_each(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(20, 5))
    opened = _count_connections(server)
    users = 80
    result = run_load(_options(server, tmp_path, users=users, spawn_rate=10, run_time=10, think_scale=0.05))
    assert result.passed, result.render()
    summary = result.summary
    identities = summary["identities"]
    assert identities["distinct"] == users and not identities["overlap"]  # each student still acts as itself
    assert summary["totals"]["requests"] > users
    # A socket per request in flight: with think time, fewer than one per student even with the
    # preflight's, the set-up's and the clean-up's (up to 20 at once) counted; one per student before.
    assert 1 <= opened() < users, opened()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_with_connections_per_user_each_student_keeps_a_connection_of_its_own(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(20, 5))
    opened = _count_connections(server)
    users = 30
    options = _options(server, tmp_path, users=users, spawn_rate=10, run_time=8, think_scale=0.05)
    result = run_load(replace(options, connections="per-user"))
    assert result.passed, result.render()
    assert result.summary["identities"]["distinct"] == users
    assert opened() >= users, opened()  # one per student at least, as browsers would


def _count_connections(server: MockServer) -> Callable[[], int]:
    """Count the connections the mock accepts from now on (its own protocol class, this server only)."""
    protocol = server._server.config.http
    assert isinstance(protocol, type)
    made = protocol.connection_made
    count = 0

    def connection_made(self: Any, transport: Any) -> None:
        nonlocal count
        count += 1
        made(self, transport)

    protocol.connection_made = connection_made  # type: ignore[method-assign]
    return lambda: count


# -- connections past descriptor 1023 ----------------------------------------------------------------

_LIVENESS = """
import os, socket, sys
from geventhttpclient.connectionpool import ConnectionPool
stock = ConnectionPool._is_socket_alive
import canvas_ai_harness.load.users  # the locust process's patch comes with the users
from gevent import socket as gsocket
padding = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # push the next sockets past 1023
listener = gsocket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
client = gsocket.create_connection(listener.getsockname()); server, _ = listener.accept()
assert client.fileno() > 1023
pool = ConnectionPool.__new__(ConnectionPool)
seen = {"stock_idle": stock(pool, client), "idle": pool._is_socket_alive(client)}
server.sendall(b"stray"); import gevent; gevent.sleep(0.05)
seen["stray_bytes"] = pool._is_socket_alive(client)
client.recv(16); server.close(); gevent.sleep(0.05)
seen["peer_closed"] = pool._is_socket_alive(client)
client.close()
seen["closed"] = pool._is_socket_alive(client)
print(seen)
"""


def test_a_pooled_socket_past_descriptor_1023_is_reused_while_open_and_dropped_once_not() -> None:
    result = subprocess.run([sys.executable, "-c", _LIVENESS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert seen["stock_idle"] is False  # geventhttpclient's select() check: every such socket thrown away
    assert seen == {"stock_idle": False, "idle": True, "stray_bytes": False, "peer_closed": False, "closed": False}
