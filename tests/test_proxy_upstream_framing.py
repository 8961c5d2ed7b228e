"""The upstream connection's parser (``proxy.upstream._Connection``), fed bytes as a socket would.

The connection parses an answer as its bytes arrive. Fed directly, a test decides where the reads
split (at every byte, or with the next answer's bytes glued on), which a real socket does not let
it choose; ``test_proxy_transport.py`` drives the same code over real sockets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from canvas_ai_harness.proxy import upstream as upstream_module
from canvas_ai_harness.proxy.upstream import Answer, UpstreamFailure, UpstreamPool
from test_proxy_transport import EMPTY, WAIT, RawUpstream, raw_upstream, read_request

Result = tuple[Answer, bool] | BaseException


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def feed(
    pieces: Iterator[bytes] | list[bytes],
    *,
    reused: bool = False,
    head_only: bool = False,
    end: bool = False,
    lost: Exception | None = None,
) -> tuple[Result | None, upstream_module._Connection]:
    """Feed ``pieces`` to a connection waiting for one answer; ``end``: then the upstream closes."""

    async def main() -> tuple[Result | None, upstream_module._Connection]:
        connection = upstream_module._Connection()
        connection.connection_made(FakeTransport())
        waiter: asyncio.Future[tuple[Answer, bool]] = asyncio.get_running_loop().create_future()
        connection.start(waiter, head_only, reused)
        for piece in pieces:
            connection.data_received(piece)
        if end:
            connection.connection_lost(lost)
        if not waiter.done():
            return None, connection
        exc = waiter.exception()
        return (exc if exc is not None else waiter.result()), connection

    return asyncio.run(main())


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b'2;ext=1\r\n{"\r\n00005\r\nid": \r\n1\r\n1\r\n1\r\n}\r\n0\r\nx-trailer: dropped\r\n\r\n'
)
LENGTH = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{"id": 1}'


@pytest.mark.parametrize("answer", [pytest.param(LENGTH, id="content-length"), pytest.param(CHUNKED, id="chunked")])
@pytest.mark.parametrize(
    "split", [pytest.param(lambda d: [d], id="one-read"), pytest.param(one_byte_at_a_time, id="byte-by-byte")]
)
def test_an_answer_is_read_whole_however_its_reads_split_and_the_connection_kept(answer: bytes, split: object) -> None:
    result, connection = feed(split(answer))  # type: ignore[operator]
    assert isinstance(result, tuple)
    got, keep = result
    assert (got.status, got.body, keep) == (200, b'{"id": 1}', True)
    assert not connection.closed


def test_an_informational_answer_in_the_same_read_is_skipped() -> None:
    result, _ = feed([b"HTTP/1.1 100 Continue\r\n\r\n" + EMPTY])
    assert isinstance(result, tuple) and (result[0].status, result[0].body, result[1]) == (200, b"{}", True)


def test_an_answer_framed_by_the_close_ends_at_the_close_and_the_connection_is_not_kept() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"
    waiting, _ = feed([head, b'{"id"'])
    assert waiting is None  # no length, no chunks: the body goes on until the close
    result, _ = feed([head, b'{"id"', b": 1}"], end=True)
    assert isinstance(result, tuple) and (result[0].body, result[1]) == (b'{"id": 1}', False)


def test_a_reset_during_an_answer_framed_by_the_close_is_a_reset_not_an_answer() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"
    result, _ = feed([head, b'{"id"'], end=True, lost=ConnectionResetError("reset by peer"))
    assert isinstance(result, UpstreamFailure) and result.kind == "reset" and "mid-body" in result.reason


def test_bytes_beyond_the_answer_put_the_connection_out_of_step() -> None:
    result, _ = feed([EMPTY + b"HTTP/1.1 200 OK\r\n"])
    assert isinstance(result, tuple) and (result[0].body, result[1]) == (b"{}", False)


def test_a_head_answer_has_no_body_even_with_a_length() -> None:
    result, _ = feed([b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n"], head_only=True)
    assert isinstance(result, tuple) and (result[0].body, result[1]) == (b"", True)


def test_bytes_nobody_asked_for_close_an_idle_connection() -> None:
    _, connection = feed([EMPTY])
    connection.data_received(b"HTTP/1.1 200 OK\r\n")  # the upstream speaks out of turn
    assert connection.closed and connection.transport is not None and connection.transport.is_closing()
    assert not connection.usable(connection.idle_since)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "malformed chunked", id="chunk-size"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n", "malformed chunked", id="negative-chunk"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{}\r\n", "malformed chunked", id="no-crlf"
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\n{}", "Content-Length", id="negative-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: two\r\n\r\n{}", "Content-Length", id="length-not-a-number"),
        pytest.param(b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.1 answer", id="not-http"),
        pytest.param(b"HTTP/1.1 200 OK\r\n bad: header\r\n\r\n", "malformed header line", id="header-line"),
    ],
)
def test_a_malformed_answer_is_a_reset(answer: bytes, reason: str) -> None:
    result, _ = feed([answer])
    assert isinstance(result, UpstreamFailure) and result.kind == "reset" and reason in result.reason


def test_a_head_over_the_budget_is_a_reset_without_waiting_for_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_module, "_MAX_HEAD_BYTES", 100)
    result, _ = feed([b"HTTP/1.1 200 OK\r\n", b"x-long: " + b"a" * 200])
    assert isinstance(result, UpstreamFailure) and "head is over 100 bytes" in result.reason


@pytest.mark.parametrize(
    ("reused", "stale"), [pytest.param(True, True, id="reused"), pytest.param(False, False, id="fresh")]
)
def test_a_break_before_any_byte_is_stale_only_on_a_reused_connection(reused: bool, stale: bool) -> None:
    result, _ = feed([], reused=reused, end=True, lost=ConnectionResetError("reset by peer"))
    assert isinstance(result, upstream_module._Stale) is stale
    if not stale:
        assert isinstance(result, UpstreamFailure) and "before a whole answer head" in result.reason


def test_a_break_after_the_first_byte_is_never_stale() -> None:
    result, _ = feed([b"HTTP/1.1 2"], reused=True, end=True)
    assert isinstance(result, UpstreamFailure) and result.kind == "reset"


def test_a_request_on_a_connection_closed_before_it_went_fails_at_once() -> None:
    async def main() -> BaseException | None:
        connection = upstream_module._Connection()
        connection.connection_made(FakeTransport())
        connection.connection_lost(None)  # the upstream closed it first
        waiter: asyncio.Future[tuple[Answer, bool]] = asyncio.get_running_loop().create_future()
        connection.start(waiter, False, True)
        return waiter.exception() if waiter.done() else None

    assert isinstance(asyncio.run(main()), upstream_module._Stale)


def test_a_request_that_gives_up_waiting_for_a_connection_frees_nothing_it_did_not_hold() -> None:
    release = threading.Event()
    held = threading.Event()

    def script(connection: object, index: int) -> None:
        import socket

        assert isinstance(connection, socket.socket)
        buffer = bytearray()
        while read_request(connection, buffer) is not None:
            if index == 1 and not release.is_set():
                held.set()
                release.wait(WAIT)
            connection.sendall(EMPTY)

    upstream = RawUpstream(script)

    async def main(url: str) -> list[int]:
        pool = UpstreamPool(url, WAIT, 1)
        try:
            first = asyncio.ensure_future(pool.request(b"GET", b"/1", [], b""))
            await asyncio.to_thread(held.wait, WAIT)
            second = asyncio.ensure_future(pool.request(b"GET", b"/2", [], b""))
            await asyncio.sleep(0)  # the second now waits for the only slot
            second.cancel()
            release.set()
            statuses = [(await first).status]
            statuses.append((await pool.request(b"GET", b"/3", [], b"")).status)  # the slot came back
            statuses.append(int(second.cancelled()))
            return statuses
        finally:
            await pool.aclose()

    with raw_upstream(upstream):
        assert asyncio.run(main(upstream.url)) == [200, 200, 1]
    assert upstream.connections == 1


def test_the_bound_holds_when_requests_queue_for_slots() -> None:
    upstream = RawUpstream(lambda c, i: None)
    upstream.script = upstream.answer_each(lambda n, request: EMPTY)

    async def main(url: str) -> list[int]:
        pool = UpstreamPool(url, WAIT, 2)
        try:
            answers = await asyncio.gather(*(pool.request(b"GET", b"/x", [], b"") for _ in range(20)))
            return [a.status for a in answers]
        finally:
            await pool.aclose()

    with raw_upstream(upstream):
        assert asyncio.run(main(upstream.url)) == [200] * 20
    assert upstream.connections <= 2 and len(upstream.requests) == 20
