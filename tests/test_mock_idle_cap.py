"""The mock's cap on idle connections: room for a load rehearsal's students, still a cap.

A load rehearsal's students keep their connections open while they think; the mock raises its
open-file limit at start and lets all of it but a reserve be idle, where the proxy keeps half,
at most 1,000. Past
the cap the longest-idle connection is closed; under it, none is. Raw sockets, so that no client
pool reconnects behind the test's back; deadlines bound hangs only.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from canvas_ai_harness.budgets import IDLE_CEILING, MOCK_OPEN_FILES, default_idle_connections
from canvas_ai_harness.mock import MockConfig, MockServer

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
REQUEST = f"GET {BASE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mock-student-token\r\n\r\n".encode()
HANG_BOUND = 60.0


def _exchange(sock: socket.socket) -> int:
    """Send one keep-alive GET and read its whole answer; the status, or 0 when the server closed."""
    try:
        sock.sendall(REQUEST)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return 0
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return 0
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1])


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (waits for it up to the hang bound)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def connections() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _open(server: MockServer, opened: list[socket.socket]) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=HANG_BOUND)
    opened.append(sock)
    return sock


def test_past_a_tiny_cap_the_longest_idle_connection_is_closed(connections: list[socket.socket]) -> None:
    with MockServer(MockConfig(seed=1, max_idle_connections=2)) as mock:
        first, second = _open(mock, connections), _open(mock, connections)
        assert _exchange(first) == 200 and _exchange(second) == 200  # both idle now: the cap is reached
        third = _open(mock, connections)
        assert _exchange(third) == 200
        assert _closed(first)  # the longest idle made room
        assert _exchange(second) == 200  # the others are served on the same connection


def test_under_the_cap_no_idle_connection_is_closed(connections: list[socket.socket]) -> None:
    with MockServer(MockConfig(seed=1, max_idle_connections=8)) as mock:
        idle = [_open(mock, connections) for _ in range(7)]
        assert [_exchange(sock) for sock in idle] == [200] * 7
        late = _open(mock, connections)  # the eighth: still within the cap
        assert _exchange(late) == 200
        assert [_exchange(sock) for sock in idle] == [200] * 7  # every connection still open


@pytest.mark.parametrize(
    ("soft", "proxy", "mock"),
    [
        pytest.param(1_024, 512, 512, id="laptop-1024"),
        pytest.param(20_000, 1_000, 17_500, id="this-kind-of-machine-20000"),
        pytest.param(MOCK_OPEN_FILES, 1_000, 114_688, id="raised-131072"),
    ],
)
def test_the_proxy_keeps_its_ceiling_and_the_mock_all_but_a_reserve(
    monkeypatch: pytest.MonkeyPatch, soft: int, proxy: int, mock: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, soft))
    assert default_idle_connections() == proxy
    assert default_idle_connections(None) == mock


_CHILD = """
import json, resource
from canvas_ai_harness.mock import MockConfig, MockServer
server = MockServer(MockConfig(seed=1))
print(json.dumps({"soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "cap": server.idle_cap}))
server.stop()
"""


def test_the_mock_raises_its_open_file_limit_and_lets_all_but_a_reserve_be_idle() -> None:
    """In a process of its own that starts at a low limit, as a shell's ``ulimit -n 256`` would."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, preexec_fn=low_limit, check=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    expected_at_least = MOCK_OPEN_FILES if hard == resource.RLIM_INFINITY else min(MOCK_OPEN_FILES, hard)
    assert figures["soft"] >= expected_at_least > 256
    soft = figures["soft"]
    assert figures["cap"] == max(soft // 2, soft - max(1_024, soft // 8))  # all but a reserve
    if soft >= 4 * IDLE_CEILING:
        assert figures["cap"] > IDLE_CEILING  # no 1,000 ceiling for the mock
