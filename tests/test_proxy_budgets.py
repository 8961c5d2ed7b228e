"""The proxy never holds an unbounded body: over ``max_body_bytes`` it answers 413 itself, forwarding nothing;
under it, a Canvas's own 413 reaches the client unchanged (never the proxy's 502).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer
from fixtures.proxy import BASE, Proxied, Scripted

HANG_BOUND = 60.0
STUDENT = {"Authorization": "Bearer mock-student-token", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def small_proxy(scripted_server: tuple[Scripted, str, ProxyServer]) -> Iterator[tuple[Scripted, ProxyServer]]:
    """A proxy with a 1 KiB body budget in front of the scripted upstream; it drops unsent bodies after 1 s."""
    upstream, url, _ = scripted_server
    proxy = ProxyServer(ProxyConfig(url, max_body_bytes=1024, read_timeout_s=1.0)).start()
    yield upstream, proxy
    proxy.stop()


@pytest.fixture
def small(small_proxy: tuple[Scripted, ProxyServer]) -> tuple[Scripted, ProxyServer]:
    upstream, proxy = small_proxy
    upstream.answers.clear()
    upstream.received.clear()
    upstream.answer(200, b"{}")
    proxy.proxy.reset()
    return upstream, proxy


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_body_announced_over_the_budget_is_refused_413_before_it_is_sent(small: tuple[Scripted, ProxyServer]) -> None:
    upstream, proxy = small
    with socket.create_connection((proxy.host, proxy.port), timeout=HANG_BOUND) as sock:
        # 512 MiB announced, none sent: the proxy must answer without waiting for (or buffering) it.
        sock.sendall(f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: {512 * 2**20}\r\n\r\n".encode())
        data = _read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert "max-body-bytes" in json.loads(body)["error"]
    assert upstream.received == []
    assert proxy.report.to_dict()["answers_met"] == {"413 body too large (not forwarded)": 1}


def test_a_chunked_body_over_the_budget_is_refused_413(small: tuple[Scripted, ProxyServer]) -> None:
    upstream, proxy = small

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 100

    with httpx.Client(base_url=proxy.url, timeout=HANG_BOUND) as http:
        response = http.post(BASE, content=chunks(), headers=STUDENT)
    assert response.status_code == 413
    assert upstream.received == []


def test_a_body_within_the_budget_is_forwarded_whole(small: tuple[Scripted, ProxyServer]) -> None:
    upstream, proxy = small
    body = json.dumps({"message": "x" * 1000}).encode()[:1024]
    with httpx.Client(base_url=proxy.url, timeout=HANG_BOUND) as http:
        assert http.post(BASE, content=body, headers=STUDENT).status_code == 200
    assert upstream.received[0]["body"] == body


def test_the_upstreams_413_reaches_the_client_not_a_502(proxied: Proxied) -> None:
    # The mock refuses bodies over 1 MiB; the proxy's default budget (8 MiB) lets 8 MB through to it.
    cid = proxied.http.post(BASE, headers=STUDENT).json()["id"]
    body = json.dumps({"message": "x" * 8_000_000}).encode()
    response = proxied.http.post(f"{BASE}/{cid}/messages", content=body, headers=STUDENT)
    assert response.status_code == 413
    assert response.json() == {"errors": [{"message": "Request entity too large."}]}


def test_the_default_budget_is_above_the_mocks_body_limit() -> None:
    assert ProxyConfig("http://127.0.0.1:1").max_body_bytes > MockConfig().max_body_bytes


def test_the_upstreams_413_for_a_chunked_body_reaches_the_client() -> None:
    with (
        MockServer(MockConfig(seed=1, max_body_bytes=64)) as upstream,
        ProxyServer(ProxyConfig(upstream.url)) as proxy,
        httpx.Client(base_url=proxy.url, timeout=HANG_BOUND) as http,
    ):
        cid = http.post(BASE, headers=STUDENT).json()["id"]
        big = iter([b'{"message": "', b"y" * 300_000, b'"}'])
        response = http.post(f"{BASE}/{cid}/messages", content=big, headers=STUDENT)
    assert response.status_code == 413


def test_a_body_that_stops_arriving_is_answered_408_and_never_forwarded(small: tuple[Scripted, ProxyServer]) -> None:
    upstream, proxy = small
    with socket.create_connection((proxy.host, proxy.port), timeout=HANG_BOUND) as sock:
        head = f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head.encode() + b'{"mess')  # 6 of 100 bytes, then nothing
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert upstream.received == []  # a truncated request never reaches Canvas
    assert proxy.report.to_dict()["answers_met"] == {"client left mid-body (not forwarded)": 1}
