"""The proxy's HTTP/1.1 client to its upstream: a bounded pool of kept-alive connections.

``UpstreamPool.request()`` sends one whole request and reads one whole answer (bodies are
small JSON documents): ``Content-Length``, chunked or read-until-close framing, informational
(1xx) answers skipped, gzip left as it came (the proxy passes bytes on unchanged). It is the
smallest client that is correct for this job, and it costs a fraction of a general one: one
write per request, and each connection is an ``asyncio.Protocol`` that parses the answer as its
bytes arrive and hands it to the waiting request through one future (no stream reader, no await
per line). Bytes the upstream sends that nobody asked for put the connection out of use.

Connections are kept alive unless the upstream says otherwise (``Connection: close``, HTTP/1.0
without keep-alive, an answer framed by the close), and at most ``max_connections`` are open;
a request waits for one within its timeout. An idle connection is not reused after
``IDLE_EXPIRY_S`` (an upstream closes idle ones itself, httpx waits 5 s too) nor once the
upstream has closed it. When a reused connection breaks before any byte of the answer came,
an idempotent request is sent once more on a new connection (the upstream closed it between
requests); any other request is counted as ``reset``: a proxy never repeats a POST
(RFC 9110 section 9.2.2).

Every failure is an ``UpstreamFailure`` whose ``kind`` is ``refused``, ``reset`` or
``timeout`` (``observe.UPSTREAM_FAILURES``); the whole exchange, waiting for a connection
included, is bounded by ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from canvas_ai_harness.proxy.observe import REFUSED, RESET, TIMEOUT

__all__ = ["IDLE_EXPIRY_S", "Answer", "UpstreamFailure", "UpstreamPool"]

IDLE_EXPIRY_S: Final = 5.0  # an idle connection older than this is closed, not reused
_MAX_HEAD_BYTES: Final = 64 * 1024  # an answer's status line and headers
_IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})
_NO_BODY: Final = (204, 304)

RawHeaders = list[tuple[bytes, bytes]]


class UpstreamFailure(Exception):
    """The upstream gave no whole answer; ``kind`` says how (refused, reset, timeout)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class _Stale(Exception):
    """A reused connection broke before any byte of the answer: the upstream had closed it."""


@dataclass(slots=True)
class Answer:
    """One answer: status, raw headers as they came, the body with any chunked framing undone."""

    status: int
    headers: RawHeaders
    body: bytes


# What a connection's parser waits for next.
_HEAD: Final = 0  # the status line and headers (of a final answer or of a 1xx)
_LENGTH: Final = 1  # a body of Content-Length bytes
_CHUNKED: Final = 2  # chunked framing: a size line, a chunk, ... the last chunk, trailers
_UNTIL_CLOSE: Final = 3  # a body framed by the close


class _Connection(asyncio.Protocol):
    """One connection: it parses the answer as its bytes arrive and hands it to the request waiting.

    A protocol rather than a stream reader: an answer that arrives in one read (most do) costs
    one parse and one future, no awaits in between.
    """

    __slots__ = (
        "_body_left",
        "_buffer",
        "_chunks",
        "_close",
        "_got",
        "_head_only",
        "_headers",
        "_lost",
        "_reused",
        "_state",
        "_status",
        "_waiter",
        "closed",
        "idle_since",
        "transport",
        "used",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.used = False  # has carried a request before: a break before any answer byte may be stale
        self.idle_since = 0.0
        self.closed = False  # the upstream closed it, it broke, or bytes came that nobody asked for
        self._waiter: asyncio.Future[tuple[Answer, bool]] | None = None
        self._lost: asyncio.Future[None] | None = None  # aclose() waits on it
        self._buffer: bytes | bytearray = b""
        self._state = _HEAD
        self._head_only = False
        self._reused = False
        self._got = False  # a byte of this answer came: a break from here on is the upstream's
        self._status = 0
        self._headers: RawHeaders = []
        self._body_left = 0  # _LENGTH: the body's length; _CHUNKED: the current chunk's, -1 between chunks
        self._close = False
        self._chunks: list[bytes] = []

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self._got = True
        buffer = self._buffer
        if not buffer:
            self._buffer = data
        elif isinstance(buffer, bytearray):
            buffer += data
        else:
            self._buffer = bytearray(buffer) + data
        try:
            answer = self._parse()
        except UpstreamFailure as exc:
            self._waiter = None
            waiter.set_exception(exc)
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if self._state == _UNTIL_CLOSE and exc is None:
            waiter.set_result((Answer(self._status, self._headers, bytes(self._buffer)), False))
        else:
            waiter.set_exception(self._broken(exc))

    # -- the pool's side ----------------------------------------------------------------------
    def start(self, waiter: asyncio.Future[tuple[Answer, bool]], head_only: bool, reused: bool) -> None:
        """Wait for one answer: ``waiter`` gets it and whether the connection may carry another."""
        self._state, self._buffer, self._got = _HEAD, b"", False
        self._head_only, self._reused = head_only, reused
        if self.closed:  # closed before the request could go
            waiter.set_exception(self._broken(None))
        else:
            self._waiter = waiter

    def usable(self, now: float) -> bool:
        return not self.closed and now - self.idle_since <= IDLE_EXPIRY_S

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _broken(self, exc: Exception | None) -> Exception:
        if self._reused and not self._got:
            return _Stale()
        reason = "mid-body" if self._state != _HEAD else "before a whole answer head"
        detail = f" ({exc})" if exc is not None else ""
        return UpstreamFailure(RESET, f"the upstream closed the connection {reason}{detail}")

    # -- parsing ------------------------------------------------------------------------------
    def _parse(self) -> tuple[Answer, bool] | None:
        """The answer once it is whole (and whether to keep the connection), else ``None``."""
        while self._state == _HEAD:
            buffer = self._buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD_BYTES:
                    raise UpstreamFailure(RESET, f"the answer's head is over {_MAX_HEAD_BYTES} bytes")
                return None
            status, version, headers = _parse_head(bytes(buffer[:end]))
            self._buffer = buffer[end + 4 :]
            if 100 <= status < 200 and status != 101:
                continue  # informational: the final answer follows
            self._status, self._headers = status, headers
            self._begin_body(status, version, headers)
        if self._state == _LENGTH:
            buffer = self._buffer
            if len(buffer) < self._body_left:
                return None
            return self._done(bytes(buffer[: self._body_left]), len(buffer) > self._body_left)
        if self._state == _CHUNKED:
            return self._parse_chunks()
        return None  # _UNTIL_CLOSE: connection_lost ends it

    def _begin_body(self, status: int, version: bytes, headers: RawHeaders) -> None:
        chunked = False
        length: int | None = None
        close = version == b"HTTP/1.0"
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise UpstreamFailure(RESET, f"invalid Content-Length {value!r}") from None
                if length < 0:
                    raise UpstreamFailure(RESET, f"invalid Content-Length {value!r}")
            elif lower == b"transfer-encoding":
                chunked = value.strip().lower().endswith(b"chunked")
            elif lower == b"connection":
                tokens = {t.strip().lower() for t in value.split(b",")}
                if b"close" in tokens:
                    close = True
                elif b"keep-alive" in tokens:
                    close = False
        self._close = close
        if self._head_only or status in _NO_BODY:
            self._state, self._body_left = _LENGTH, 0
        elif chunked:
            self._state, self._body_left, self._chunks = _CHUNKED, -1, []
        elif length is not None:
            self._state, self._body_left = _LENGTH, length
        else:
            self._state, self._close = _UNTIL_CLOSE, True

    def _parse_chunks(self) -> tuple[Answer, bool] | None:
        buffer, at = self._buffer, 0
        try:
            while True:
                if self._body_left < 0:  # a size line, or (after the last chunk) a trailer line
                    eol = buffer.find(b"\r\n", at)
                    if eol < 0:
                        if len(buffer) - at > _MAX_HEAD_BYTES:
                            raise ValueError("a chunk size or trailer line too long")
                        return None
                    line, at = bytes(buffer[at:eol]), eol + 2
                    if self._body_left == -2:  # trailers: read and dropped, up to the empty line
                        if not line:
                            return self._done(b"".join(self._chunks), at < len(buffer))
                        continue
                    size = int(line.split(b";", 1)[0].strip(), 16)
                    if size < 0:
                        raise ValueError("a negative chunk size")
                    self._body_left = size if size else -2
                    continue
                if len(buffer) - at < self._body_left + 2:
                    return None
                end = at + self._body_left
                if buffer[end : end + 2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                self._chunks.append(bytes(buffer[at:end]))
                at, self._body_left = end + 2, -1
        except ValueError:
            raise UpstreamFailure(RESET, "malformed chunked body") from None
        finally:
            self._buffer = buffer[at:]

    def _done(self, body: bytes, extra: bool) -> tuple[Answer, bool]:
        """The whole answer; bytes beyond it that nobody asked for put the connection out of step."""
        self._buffer = b""
        return Answer(self._status, self._headers, body), not (self._close or extra)


def _expire(waiter: asyncio.Future[tuple[Answer, bool]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class UpstreamPool:
    """Kept-alive HTTP/1.1 connections to one upstream (``http://`` or ``https://``)."""

    def __init__(
        self, upstream: str, timeout_s: float, max_connections: int, tls: ssl.SSLContext | None = None
    ) -> None:
        """``tls``: the context for an ``https://`` upstream (default: httpx's trust store, certifi)."""
        parts = urlsplit(upstream)
        self._tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self._tls else 80)
        default_port = self.port == (443 if self._tls else 80)
        netloc = self.host if ":" not in self.host else f"[{self.host}]"
        self.host_header = (netloc if default_port else f"{netloc}:{self.port}").encode("idna")
        self._host_line = b" HTTP/1.1\r\nhost: " + self.host_header + b"\r\n"
        self.timeout_s = timeout_s
        self._max = max_connections
        self._busy = 0  # requests holding one of the max_connections slots
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()  # waiting for a slot
        self._idle: collections.deque[_Connection] = collections.deque()
        self._ssl = tls
        self._open: set[_Connection] = set()

    async def request(self, method: bytes, target: bytes, headers: RawHeaders, body: bytes) -> Answer:
        """Send ``method target`` with ``headers`` (end-to-end ones: Host and framing are added) and ``body``."""
        head = _request_head(method, target, self._host_line, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            if self._busy < self._max and not self._queue:
                self._busy += 1
            else:
                async with asyncio.timeout_at(deadline):
                    await self._wait_for_slot(loop)
            try:
                try:
                    return await self._exchange(loop, deadline, head, body, method, reuse=True)
                except _Stale:
                    if method not in _IDEMPOTENT:
                        raise UpstreamFailure(RESET, "the upstream closed a kept-alive connection") from None
                    return await self._exchange(loop, deadline, head, body, method, reuse=False)
            finally:
                self._release()
        except TimeoutError:
            raise UpstreamFailure(TIMEOUT, f"no answer within {self.timeout_s:g} s") from None

    async def aclose(self) -> None:
        """Close every connection, idle or busy, and wait until they are closed."""
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        loop = asyncio.get_running_loop()
        lost = []
        for connection in connections:
            if connection.transport is not None and not connection.closed:
                connection._lost = loop.create_future()
                lost.append(connection._lost)
                connection.transport.abort()  # nothing worth sending is left: do not wait to flush
        if lost:
            await asyncio.wait(lost, timeout=1.0)

    # -- slots --------------------------------------------------------------------------------
    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        slot = loop.create_future()
        self._queue.append(slot)
        try:
            await slot  # _release hands its slot over: _busy stays as it is
        except BaseException:
            if slot.done() and not slot.cancelled():  # handed a slot in the same step: pass it on
                self._release()
            else:
                self._queue.remove(slot)
            raise

    def _release(self) -> None:
        while self._queue:
            slot = self._queue.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self._busy -= 1

    # -- one exchange on one connection -------------------------------------------------------
    async def _exchange(
        self, loop: asyncio.AbstractEventLoop, deadline: float, head: bytes, body: bytes, method: bytes, reuse: bool
    ) -> Answer:
        connection = self._take() if reuse else None
        if connection is None:
            async with asyncio.timeout_at(deadline):
                connection = await self._connect(loop)
        reused = connection.used
        connection.used = True
        waiter: asyncio.Future[tuple[Answer, bool]] = loop.create_future()
        connection.start(waiter, method == b"HEAD", reused)
        timer = loop.call_at(deadline, _expire, waiter)
        keep = False
        try:
            if not waiter.done():
                transport = connection.transport
                assert transport is not None
                if len(body) < 65536:
                    transport.write(head + body)
                else:
                    transport.write(head)
                    transport.write(body)
            answer, keep = await waiter
            return answer
        finally:
            timer.cancel()
            if keep and not connection.closed:
                connection.idle_since = now = time.monotonic()
                idle = self._idle
                while idle and now - idle[0].idle_since > IDLE_EXPIRY_S:  # the oldest: closed, not left to linger
                    self._open.discard(stale := idle.popleft())
                    stale.close()
                idle.append(connection)
            else:
                self._open.discard(connection)
                connection.close()

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used is the least likely to be closed
            if connection.usable(now):
                return connection
            self._open.discard(connection)
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        context = None
        if self._tls:
            if self._ssl is None:
                self._ssl = _tls_context()
            context = self._ssl
        try:
            _, connection = await loop.create_connection(
                _Connection, self.host, self.port, ssl=context, server_hostname=self.host if context else None
            )
        except (ConnectionError, OSError) as exc:  # refused, unreachable, no such host, TLS refused
            raise UpstreamFailure(REFUSED, exc.strerror or str(exc) or type(exc).__name__) from None
        self._open.add(connection)
        return connection


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's trust store, so that the proxy trusts what it trusted before

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _request_head(method: bytes, target: bytes, host_line: bytes, headers: RawHeaders, body: bytes) -> bytes:
    lines = [method, b" ", target, host_line]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    if body or method not in _IDEMPOTENT or method == b"PUT":
        lines += (b"content-length: ", str(len(body)).encode(), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _parse_head(raw: bytes) -> tuple[int, bytes, RawHeaders]:
    """Status, version and headers of a head (without its closing empty line)."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise UpstreamFailure(RESET, f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    headers: RawHeaders = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise UpstreamFailure(RESET, f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return int(parts[1]), parts[0], headers
