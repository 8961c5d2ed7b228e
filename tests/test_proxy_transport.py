"""The proxy's own HTTP/1.1 client (``proxy.upstream``): framing, kept-alive connections, failures.

An upstream here is a raw TCP server whose bytes each test writes, so that the framing (chunked,
Content-Length, read-until-close), the closes and the resets are exactly the ones meant. The pool
is driven directly where a test needs to see its connections, and through a running proxy where
what matters is what the client got and what the report counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from canvas_ai_harness.proxy import Proxy, ProxyConfig, ProxyServer
from canvas_ai_harness.proxy import upstream as upstream_module
from canvas_ai_harness.proxy.upstream import UpstreamFailure, UpstreamPool
from fixtures.proxy import BASE, Proxied, Scripted

T = TypeVar("T")
WAIT = 30.0  # seconds: bounds a hang, not a speed check
STUDENT = {"Authorization": "Bearer transport-test-token"}
EMPTY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def read_request(connection: socket.socket, buffer: bytearray) -> bytes | None:
    """One whole request (head and Content-Length body) from ``connection``; ``None`` at its end."""
    while b"\r\n\r\n" not in buffer:
        data = connection.recv(65536)
        if not data:
            return None
        buffer += data
    head_end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buffer[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < head_end + length:
        data = connection.recv(65536)
        if not data:
            return None
        buffer += data
    request = bytes(buffer[: head_end + length])
    del buffer[: head_end + length]
    return request


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset (RST), not a FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


@dataclass
class RawUpstream:
    """A TCP server on 127.0.0.1; ``script(connection, index)`` serves the index-th connection."""

    script: Callable[[socket.socket, int], None]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: str = ""

    def answer_each(self, answers: Callable[[int, bytes], bytes | None]) -> Callable[[socket.socket, int], None]:
        """A script: read each request and write ``answers(n, request)`` (``None``: close instead)."""

        def script(connection: socket.socket, index: int) -> None:
            buffer = bytearray()
            while (request := read_request(connection, buffer)) is not None:
                self.requests.append(request)
                answer = answers(len(self.requests), request)
                if answer is None:
                    return
                connection.sendall(answer)

        return script


@contextlib.contextmanager
def raw_upstream(upstream: RawUpstream) -> Iterator[RawUpstream]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    upstream.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    threads: list[threading.Thread] = []

    def serve(connection: socket.socket, index: int) -> None:
        with contextlib.suppress(OSError), connection:
            upstream.script(connection, index)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            upstream.connections += 1
            thread = threading.Thread(target=serve, args=(connection, upstream.connections), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield upstream
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(WAIT)
        for thread in threads:
            thread.join(WAIT)


def run(
    coroutine_function: Callable[[UpstreamPool], Awaitable[T]],
    url: str,
    max_connections: int = 10,
    tls: ssl.SSLContext | None = None,
) -> T:
    """Run ``coroutine_function(pool)`` on a fresh event loop with a pool to ``url``, then close it."""

    async def main() -> T:
        pool = UpstreamPool(url, WAIT, max_connections, tls)
        try:
            return await coroutine_function(pool)
        finally:
            await pool.aclose()

    return asyncio.run(main())


async def get(pool: UpstreamPool, path: bytes = b"/x") -> tuple[int, bytes]:
    answer = await pool.request(b"GET", path, [], b"")
    return answer.status, answer.body


# -- framing ----------------------------------------------------------------------------------
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    b"1;name=ext\r\n{\r\n0001\r\n}\r\n0\r\nx-trailer: dropped\r\n\r\n"
)


def test_a_chunked_answer_is_read_whole_and_the_connection_is_reused() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(lambda n, request: CHUNKED)
    with raw_upstream(upstream):
        answers = run(lambda pool: asyncio.gather(get(pool), get(pool)), upstream.url, max_connections=1)
    assert list(answers) == [(200, b"{}"), (200, b"{}")]
    assert upstream.connections == 1


def test_a_chunked_answer_reaches_the_client_with_a_length_and_no_violation() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(lambda n, request: CHUNKED)
    with raw_upstream(upstream), ProxyServer(ProxyConfig(upstream.url)) as proxy:
        response = httpx.get(f"{proxy.url}{BASE}", headers=STUDENT, timeout=WAIT)
        report = proxy.report
    assert response.status_code == 200 and response.content == b"{}"
    assert response.headers["content-length"] == "2" and "transfer-encoding" not in response.headers
    assert report.upstream_answered == 1 and not report.upstream_failures and not report.violations


def test_kept_alive_connections_are_reused_one_request_after_another() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(lambda n, request: EMPTY)

    async def five(pool: UpstreamPool) -> list[tuple[int, bytes]]:
        return [await get(pool) for _ in range(5)]

    with raw_upstream(upstream):
        answers = run(five, upstream.url)
    assert answers == [(200, b"{}")] * 5
    assert upstream.connections == 1 and len(upstream.requests) == 5


def test_an_expired_idle_connection_is_closed_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_module, "IDLE_EXPIRY_S", -1.0)  # every idle connection has expired
    ended: list[int] = []
    two_ended = threading.Event()

    def script(connection: socket.socket, index: int) -> None:
        buffer = bytearray()
        while read_request(connection, buffer) is not None:
            connection.sendall(EMPTY)
        ended.append(index)  # the pool closed this connection
        if len(ended) == 2:
            two_ended.set()

    upstream = RawUpstream(script)

    async def three(pool: UpstreamPool) -> tuple[list[tuple[int, bytes]], bool]:
        answers = [await get(pool) for _ in range(3)]
        return answers, await asyncio.to_thread(two_ended.wait, WAIT)  # closed while the pool is still open

    with raw_upstream(upstream):
        answers, closed = run(three, upstream.url)
    assert answers == [(200, b"{}")] * 3 and closed
    assert upstream.connections == 3 and sorted(ended)[:2] == [1, 2]


def test_the_request_carries_host_and_its_body_length() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(lambda n, request: EMPTY)
    with raw_upstream(upstream):
        run(lambda pool: pool.request(b"POST", b"/x?a=1", [(b"x-one", b"1")], b'{"message": "hi"}'), upstream.url)
    head, _, body = upstream.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    port = upstream.url.rsplit(":", 1)[1]
    assert lines[0] == b"POST /x?a=1 HTTP/1.1"
    assert sorted(lines[1:]) == sorted([f"host: 127.0.0.1:{port}".encode(), b"x-one: 1", b"content-length: 17"])
    assert body == b'{"message": "hi"}'


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}", id="connection-close"),
        pytest.param(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}", id="http-1.0"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}", id="framed-by-the-close"),
    ],
)
def test_an_answer_that_ends_its_connection_gets_a_new_connection_next(answer: bytes) -> None:
    def script(connection: socket.socket, index: int) -> None:
        buffer = bytearray()
        if read_request(connection, buffer) is not None:
            upstream.requests.append(b"")
            connection.sendall(answer)  # and the connection ends with the script

    upstream = RawUpstream(script)

    async def two(pool: UpstreamPool) -> list[tuple[int, bytes]]:
        return [await get(pool), await get(pool)]

    with raw_upstream(upstream):
        answers = run(two, upstream.url)
    assert answers == [(200, b"{}"), (200, b"{}")]
    assert upstream.connections == 2


def test_an_informational_answer_is_skipped_and_a_head_answer_has_no_body() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(
        lambda n, request: (
            b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n"
            if request.startswith(b"HEAD")
            else b"HTTP/1.1 100 Continue\r\n\r\n" + EMPTY
        )
    )

    async def head_then_get(pool: UpstreamPool) -> list[tuple[int, bytes]]:
        head = await pool.request(b"HEAD", b"/x", [], b"")
        return [(head.status, head.body), await get(pool)]

    with raw_upstream(upstream):
        answers = run(head_then_get, upstream.url)
    assert answers == [(200, b""), (200, b"{}")]
    assert upstream.connections == 1


def test_the_pool_opens_no_more_connections_than_its_bound() -> None:
    both_in = threading.Barrier(2, timeout=WAIT)

    def script(connection: socket.socket, index: int) -> None:
        buffer = bytearray()
        first = True
        while read_request(connection, buffer) is not None:
            upstream.requests.append(b"")
            if first:  # both connections hold their first request until the other has one too
                both_in.wait()
                first = False
            connection.sendall(EMPTY)

    upstream = RawUpstream(script)
    with raw_upstream(upstream):
        answers = run(lambda pool: asyncio.gather(*(get(pool) for _ in range(6))), upstream.url, max_connections=2)
    assert list(answers) == [(200, b"{}")] * 6
    assert upstream.connections == 2 and len(upstream.requests) == 6


# -- failures ---------------------------------------------------------------------------------
def test_nothing_listening_is_refused() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"  # bound, never listening: refused
        with pytest.raises(UpstreamFailure) as failure:
            run(get, url)
    assert failure.value.kind == "refused"


def closing_kept_alive(second: Callable[[socket.socket], None]) -> RawUpstream:
    """An upstream whose first connection answers its first request, then ``second`` handles the next."""

    def script(connection: socket.socket, index: int) -> None:
        buffer = bytearray()
        while (request := read_request(connection, buffer)) is not None:
            upstream.requests.append(request)
            if index == 1 and len(upstream.requests) == 2:
                second(connection)
                return
            connection.sendall(EMPTY)

    upstream = RawUpstream(script)
    return upstream


@pytest.mark.parametrize("close", [pytest.param(lambda c: c.close(), id="fin"), pytest.param(reset, id="reset")])
def test_a_get_on_a_kept_alive_connection_the_upstream_closed_is_sent_again(
    close: Callable[[socket.socket], None],
) -> None:
    with raw_upstream(closing_kept_alive(close)) as upstream, ProxyServer(ProxyConfig(upstream.url)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=WAIT) as http:
            answers = [http.get(BASE, headers=STUDENT).status_code for _ in range(2)]
        report = proxy.report
    assert answers == [200, 200]
    assert upstream.connections == 2 and len(upstream.requests) == 3
    assert report.upstream_answered == 2 and not report.upstream_failures and not report.violations


def test_a_post_on_a_kept_alive_connection_the_upstream_closed_is_a_reset_never_sent_twice() -> None:
    closing = closing_kept_alive(lambda c: c.close())
    with raw_upstream(closing) as upstream, ProxyServer(ProxyConfig(upstream.url)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=WAIT) as http:
            first = http.get(BASE, headers=STUDENT).status_code
            second = http.post(f"{BASE}/5/messages", headers=STUDENT, json={"message": "hello"})
        report = proxy.report
    assert first == 200 and second.status_code == 502
    assert len(upstream.requests) == 2  # the POST reached the upstream once
    assert dict(report.upstream_failures) == {"reset": 1}
    assert not report.violations  # an upstream failure, not the target's answer breaking the spec


def test_an_idle_connection_the_upstream_closed_is_not_reused_even_for_a_post() -> None:
    closed = threading.Event()

    def script(connection: socket.socket, index: int) -> None:
        buffer = bytearray()
        if read_request(connection, buffer) is None:
            return
        connection.sendall(EMPTY)
        if index == 1:
            connection.shutdown(socket.SHUT_WR)  # a FIN while the connection sits idle in the pool
            closed.set()
            read_request(connection, buffer)  # until the pool closes its end

    upstream = RawUpstream(script)

    async def get_wait_post(pool: UpstreamPool) -> list[int]:
        statuses = [(await get(pool))[0]]
        await asyncio.to_thread(closed.wait, WAIT)
        idle = pool._idle[0]  # the pool notices the FIN as the event loop reads it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not idle.reader.at_eof() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        statuses.append((await pool.request(b"POST", b"/x", [], b"{}")).status)
        return statuses

    with raw_upstream(upstream):
        assert run(get_wait_post, upstream.url) == [200, 200]
    assert upstream.connections == 2


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"id": 1', id="content-length"),
        pytest.param(b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n20\r\n{"id": 1', id="chunked"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-le", id="head"),
    ],
)
def test_a_reset_mid_answer_is_an_upstream_failure_not_a_violation(partial: bytes) -> None:
    def script(connection: socket.socket, index: int) -> None:
        if read_request(connection, bytearray()) is not None:
            connection.sendall(partial)
            reset(connection)

    upstream = RawUpstream(script)
    with raw_upstream(upstream), ProxyServer(ProxyConfig(upstream.url)) as proxy:
        response = httpx.get(f"{proxy.url}{BASE}", headers=STUDENT, timeout=WAIT)
        report = proxy.report
    assert response.status_code == 502 and "reset" in response.json()["error"]
    assert dict(report.upstream_failures) == {"reset": 1} and report.upstream_answered == 0
    assert not report.violations


def test_an_answer_cut_short_by_a_close_is_a_reset_on_a_fresh_connection() -> None:
    def script(connection: socket.socket, index: int) -> None:
        if read_request(connection, bytearray()) is not None:
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}")

    upstream = RawUpstream(script)
    with raw_upstream(upstream), pytest.raises(UpstreamFailure) as failure:
        run(get, upstream.url)
    assert failure.value.kind == "reset" and "mid-body" in failure.value.reason


def test_an_https_upstream_is_spoken_to_over_tls_and_its_certificate_checked(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate for 127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=WAIT,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)

    def script(connection: socket.socket, index: int) -> None:
        with contextlib.suppress(ssl.SSLError), server.wrap_socket(connection, server_side=True) as tls:
            buffer = bytearray()
            while read_request(tls, buffer) is not None:
                tls.sendall(EMPTY)

    trusting = ssl.create_default_context(cafile=str(cert))

    async def twice(pool: UpstreamPool) -> list[tuple[int, bytes]]:
        return [await get(pool), await get(pool)]

    with raw_upstream(RawUpstream(script)) as upstream:
        https = upstream.url.replace("http://", "https://")
        answers = run(twice, https, tls=trusting)
        with pytest.raises(UpstreamFailure) as untrusted:  # the default trust store does not know it
            run(get, https)
    assert answers == [(200, b"{}"), (200, b"{}")] and upstream.connections == 2  # one kept alive, one refused
    assert untrusted.value.kind == "refused" and "CERTIFICATE_VERIFY_FAILED" in untrusted.value.reason


def test_a_redirect_passes_through_unfollowed(scripted: tuple[Scripted, Proxied]) -> None:
    upstream, proxied = scripted
    upstream.answer(302, b"", [(b"location", b"https://canvas.example/login"), (b"content-length", b"0")])
    response = proxied.http.get(BASE, headers=STUDENT)
    assert response.status_code == 302 and response.headers["location"] == "https://canvas.example/login"
    assert len(upstream.received) == 1 and proxied.report.answers["302"] == 1


# -- the hot path's redaction -----------------------------------------------------------------
def test_a_path_redacted_before_a_token_was_learned_is_redacted_again_after() -> None:
    proxy = Proxy(ProxyConfig("http://127.0.0.1:9"))
    raw = f"{BASE}?note=learned-later-token-123"
    assert proxy._redacted_path(raw) == raw  # not a token yet
    proxy._client_label({"authorization": "Bearer learned-later-token-123"}, "", b"")
    assert "learned-later-token-123" not in proxy._redacted_path(raw)
    assert proxy._redacted_path(raw) == proxy.redactor(raw)
