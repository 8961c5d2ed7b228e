"""An upstream that never answers is never a pass: refused, reset, timed out or still waiting.

The client of such a run met only the proxy's 502s. The report counts each failure by kind, a
run with any is not a pass (exit 1), a run whose upstream answered nothing is exit 2, and
Ctrl-C does not wait out a hung upstream.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from canvas_ai_harness.cli.servers import proxy as proxy_command
from canvas_ai_harness.mock import MockServer, world
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer
from canvas_ai_harness.proxy.app import DEFAULT_UPSTREAM_TIMEOUT_S
from fixtures.hooks import die_after, hold_once
from fixtures.proxy import BASE

STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
WAIT = 120  # seconds: bounds a hang, not a speed check


@contextlib.contextmanager
def resetting_upstream() -> Iterator[str]:
    """A server that reads each request and resets the connection instead of answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)  # lets the thread notice the end of the test
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(WAIT)
        listener.close()


def test_an_upstream_that_resets_every_connection_is_unreachable_exit_2() -> None:
    with resetting_upstream() as url, ProxyServer(ProxyConfig(url)) as proxy:
        answers = [httpx.post(f"{proxy.url}{BASE}", headers=STUDENT, timeout=WAIT).status_code for _ in range(2)]
        report = proxy.report

    assert answers == [502, 502]
    assert dict(report.upstream_failures) == {"reset": 2}
    assert (report.passed, report.upstream_unreachable, report.exit_code()) == (False, True, 2)
    data = report.to_dict()
    assert data["upstream_answers"] == {
        "answered": 0,
        "failures": {"refused": 0, "reset": 2, "timeout": 0, "stopped-waiting": 0},
    }
    assert report.to_text().startswith("Conformance report") and "UPSTREAM UNREACHABLE" in report.to_text()


def test_an_upstream_that_dies_mid_run_fails_the_run_exit_1(mock_canvas: Callable[..., MockServer]) -> None:
    server = mock_canvas()
    die_after(server, requests=2)
    with ProxyServer(ProxyConfig(server.url)) as proxy, httpx.Client(base_url=proxy.url, timeout=WAIT) as http:
        statuses = [http.get(BASE, headers=STUDENT).status_code for _ in range(4)]
        report = proxy.report

    assert statuses[:2] == [200, 200] and statuses[2:] == [502, 502]
    assert report.upstream_answered == 2 and sum(report.upstream_failures.values()) == 2
    assert set(report.upstream_failures) <= {"reset", "refused"}
    assert (report.passed, report.exit_code()) == (False, 1)  # no violation, and still not a pass
    assert "FAILED: the upstream failed 2 requests" in report.to_text()


def test_a_hung_upstream_is_a_timeout_after_upstream_timeout(mock_canvas: Callable[..., MockServer]) -> None:
    server = mock_canvas()
    held = hold_once(server, lambda request: request.method == "GET")
    with ProxyServer(ProxyConfig(server.url, timeout_s=0.5)) as proxy:
        answer = httpx.get(f"{proxy.url}{BASE}", headers=STUDENT, timeout=WAIT)
        report = proxy.report

    assert held.is_set() and answer.status_code == 502 and "timeout" in answer.json()["error"]
    assert dict(report.upstream_failures) == {"timeout": 1} and report.exit_code() == 2


def test_a_faithful_upstream_passes_with_no_upstream_failure(mock_canvas: Callable[..., MockServer]) -> None:
    server = mock_canvas()
    with ProxyServer(ProxyConfig(server.url)) as proxy:
        assert httpx.get(f"{proxy.url}{BASE}", headers=STUDENT, timeout=WAIT).status_code == 200
        report = proxy.report

    assert (report.passed, report.exit_code(), report.upstream_answered) == (True, 0, 1)
    assert "PASSED" in report.to_text() and "failed to answer -" in report.to_text()


@pytest.mark.slow
def test_ctrl_c_with_a_hung_upstream_stops_at_once_and_counts_the_waiting_request(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas()
    held = hold_once(server, lambda request: request.method == "GET")
    report = tmp_path / "report.json"
    # An upstream timeout far beyond WAIT: only a prompt shutdown ends the run within it.
    command = [sys.executable, "-m", "canvas_ai_harness", "proxy", "--upstream", server.url, "--port", "0"]
    command += ["--report", str(report), "--upstream-timeout", "3600"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            match = re.search(r"Proxy on (http://127\.0\.0\.1:\d+)", process.stderr.readline())
            assert match
            waiting = threading.Thread(target=_get_quietly, args=(f"{match.group(1)}{BASE}",), daemon=True)
            waiting.start()
            assert held.wait(WAIT), "the request never reached the upstream"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()

    assert process.returncode == 2, stderr  # the upstream answered nothing
    data = json.loads(report.read_text())
    assert data["upstream_answers"]["failures"]["stopped-waiting"] == 1 and data["passed"] is False, (data, stderr)
    assert "UPSTREAM UNREACHABLE" in stdout and "Traceback" not in stderr


def _get_quietly(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, headers=STUDENT, timeout=WAIT)


def test_the_cli_default_upstream_timeout_is_the_proxys() -> None:
    option = next(p for p in proxy_command.params if p.name == "upstream_timeout")
    assert option.default == DEFAULT_UPSTREAM_TIMEOUT_S
