"""What one client may make the mock or the proxy hold: a bounded head, a deadline to arrive, few idle connections.

Each test sends raw bytes on a socket (no client normalises them). Deadlines bound hangs only:
a test waits for the server to close a connection, never measures how fast it does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from canvas_ai_harness.budgets import ConnectionLimits, default_idle_connections
from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
STUDENT = {"Authorization": "Bearer mock-student-token"}
HANG_BOUND = 60.0  # generous: only a server that never answers or closes reaches it


@pytest.fixture(scope="module")
def tight_mock() -> Iterator[MockServer]:
    """A mock with small connection budgets, so the tests reach them with little traffic."""
    config = MockConfig(seed=1, max_header_bytes=4096, read_timeout_s=0.5, max_idle_connections=4)
    server = MockServer(config).start()
    yield server
    server.stop()


def _connect(server: MockServer | ProxyServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=HANG_BOUND)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_a_header_flood_is_answered_431_and_closed(tight_mock: MockServer) -> None:
    with _connect(tight_mock) as sock:
        sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(2_000):  # 200 KB of headers, 50 times the budget
                sock.sendall(b"X-Flood-%d: %s\r\n" % (n, b"a" * 90))
        except OSError:
            pass  # the server closed while we were still sending: what it should do
        data = _read_all(sock)
    assert _status(data) in (431, 0)  # 0: the close raced our sending and reset the answer away
    with httpx.Client(base_url=tight_mock.url, timeout=HANG_BOUND) as http:
        assert http.get(BASE, headers=STUDENT).status_code == 200


def test_one_header_that_never_ends_is_answered_431(tight_mock: MockServer) -> None:
    # httptools keeps a header whole until it ends: the budget must count the bytes as they come.
    with _connect(tight_mock) as sock:
        sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            for _ in range(200):  # 200 KB of one header's value, never terminated
                sock.sendall(b"a" * 1000)
        except OSError:
            pass
        data = _read_all(sock)
    assert _status(data) in (431, 0)


def test_bodies_larger_than_the_head_budget_are_read(tight_mock: MockServer) -> None:
    with httpx.Client(base_url=tight_mock.url, timeout=HANG_BOUND) as http:
        cid = http.post(BASE, headers=STUDENT).json()["id"]
        for size in (5_000, 100_000):  # the head budget is 4096 bytes
            posted = http.post(f"{BASE}/{cid}/messages", json={"message": "m" * size}, headers=STUDENT)
            assert posted.status_code == 200


def test_a_head_within_the_budget_is_served(tight_mock: MockServer) -> None:
    headers = {**STUDENT, "X-Padding": "p" * 3000}
    with httpx.Client(base_url=tight_mock.url, timeout=HANG_BOUND) as http:
        assert http.get(BASE, headers=headers).status_code == 200


def test_an_oversized_head_gets_431_when_sent_whole(tight_mock: MockServer) -> None:
    with _connect(tight_mock) as sock:
        sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n")
        assert _status(_read_all(sock)) == 431


def test_a_request_whose_body_never_arrives_is_answered_408_and_closed(tight_mock: MockServer) -> None:
    with _connect(tight_mock) as sock:
        head = f"POST {BASE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mock-student-token\r\n"
        sock.sendall(head.encode() + b"Content-Type: application/json\r\nContent-Length: 10\r\n\r\n")
        assert _status(_read_all(sock)) == 408


def test_a_head_that_never_ends_is_answered_408_and_closed(tight_mock: MockServer) -> None:
    with _connect(tight_mock) as sock:
        sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        assert _status(_read_all(sock)) == 408


def test_a_connection_that_sends_nothing_is_closed(tight_mock: MockServer) -> None:
    with _connect(tight_mock) as sock:
        assert _status(_read_all(sock)) in (408, 0)


def test_idle_connections_past_the_cap_close_the_oldest_and_new_clients_are_served(tight_mock: MockServer) -> None:
    idle = [_connect(tight_mock) for _ in range(6)]  # the cap is 4
    try:
        with httpx.Client(base_url=tight_mock.url, timeout=HANG_BOUND) as http:
            assert http.get(BASE, headers=STUDENT).status_code == 200
        idle[0].settimeout(HANG_BOUND)
        assert _status(_read_all(idle[0])) in (408, 0)  # closed (by the cap or, later, the deadline)
    finally:
        for sock in idle:
            sock.close()


def test_a_keep_alive_client_is_served_across_requests(tight_mock: MockServer) -> None:
    with httpx.Client(base_url=tight_mock.url, timeout=HANG_BOUND) as http:
        for _ in range(5):
            assert http.get(BASE, headers=STUDENT).status_code == 200


def test_the_proxy_has_the_same_limits() -> None:
    with MockServer(MockConfig(seed=1)) as upstream:
        config = ProxyConfig(upstream.url, max_header_bytes=4096, read_timeout_s=0.5)
        with ProxyServer(config) as proxy:
            with _connect(proxy) as sock:
                sock.sendall(b"GET " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n")
                assert _status(_read_all(sock)) == 431
            with _connect(proxy) as sock:
                sock.sendall(f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n".encode())
                assert _status(_read_all(sock)) == 408


def test_default_limits_leave_descriptors_for_requests() -> None:
    limits = ConnectionLimits()
    assert 1 <= limits.idle_connections == default_idle_connections() <= 1000
    assert limits.max_header_bytes >= 8192 and limits.read_timeout_s > 1


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"max_header_bytes": 0}, id="no-header-bytes"),
        pytest.param({"read_timeout_s": 0.0}, id="no-read-time"),
        pytest.param({"max_idle_connections": 0}, id="no-idle-connections"),
    ],
)
def test_limits_out_of_range_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        ConnectionLimits(**changes)  # type: ignore[arg-type]
