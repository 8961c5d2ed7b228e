"""The proxy's HTTP/1.1 client to its upstream: a bounded pool of kept-alive connections.

``UpstreamPool.request()`` sends one whole request and reads one whole answer (bodies are
small JSON documents): ``Content-Length``, chunked or read-until-close framing, informational
(1xx) answers skipped, gzip left as it came (the proxy passes bytes on unchanged). It is the
smallest client that is correct for this job, and it costs a fraction of a general one: one
write per request, no per-request objects beyond the answer.

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


@dataclass(slots=True, frozen=True)
class Answer:
    """One answer: status, raw headers as they came, the body with any chunked framing undone."""

    status: int
    headers: RawHeaders
    body: bytes


class _Connection:
    __slots__ = ("idle_since", "reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False  # has carried a request before: a break before any answer byte may be stale
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return not (
            self.reader.at_eof()
            or self.writer.is_closing()
            or now - self.idle_since > IDLE_EXPIRY_S
            or self.reader._buffer  # type: ignore[attr-defined]  # bytes nobody asked for: out of step
        )

    def close(self) -> None:
        self.writer.close()


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
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: collections.deque[_Connection] = collections.deque()
        self._ssl = tls
        self._open: set[_Connection] = set()

    async def request(self, method: bytes, target: bytes, headers: RawHeaders, body: bytes) -> Answer:
        """Send ``method target`` with ``headers`` (end-to-end ones: Host and framing are added) and ``body``."""
        head = _request_head(method, target, self.host_header, headers, body)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._slots:
                    try:
                        return await self._exchange(head, body, method, reuse=True)
                    except _Stale:
                        if method not in _IDEMPOTENT:
                            raise UpstreamFailure(RESET, "the upstream closed a kept-alive connection") from None
                        return await self._exchange(head, body, method, reuse=False)
        except TimeoutError:
            raise UpstreamFailure(TIMEOUT, f"no answer within {self.timeout_s:g} s") from None

    async def aclose(self) -> None:
        """Close every connection, idle or busy, and wait until they are closed."""
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        for connection in connections:
            connection.writer.transport.abort()  # nothing worth sending is left: do not wait to flush
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.writer.wait_closed()) for c in connections], timeout=1.0)

    # -- one exchange on one connection -------------------------------------------------------
    async def _exchange(self, head: bytes, body: bytes, method: bytes, reuse: bool) -> Answer:
        connection = self._take() if reuse else None
        if connection is None:
            connection = await self._connect()
        reused = connection.used
        connection.used = True
        keep = False
        try:
            connection.writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                connection.writer.write(body)
            try:
                answer, keep = await _read_answer(connection.reader, method == b"HEAD", reused)
            except (ConnectionError, OSError) as exc:
                raise UpstreamFailure(RESET, str(exc) or type(exc).__name__) from None
            return answer
        finally:
            if keep:
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

    async def _connect(self) -> _Connection:
        context = None
        if self._tls:
            if self._ssl is None:
                self._ssl = _tls_context()
            context = self._ssl
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=context, server_hostname=self.host if context else None, limit=_MAX_HEAD_BYTES
            )
        except (ConnectionError, OSError) as exc:  # refused, unreachable, no such host, TLS refused
            raise UpstreamFailure(REFUSED, exc.strerror or str(exc) or type(exc).__name__) from None
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's trust store, so that the proxy trusts what it trusted before

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _request_head(method: bytes, target: bytes, host: bytes, headers: RawHeaders, body: bytes) -> bytes:
    lines = [method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    if body or method not in _IDEMPOTENT or method == b"PUT":
        lines += (b"content-length: ", str(len(body)).encode(), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


async def _read_answer(reader: asyncio.StreamReader, head_only: bool, reused: bool) -> tuple[Answer, bool]:
    """Read one final answer (1xx ones skipped); return it and whether the connection may be reused."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _Stale from None
            raise UpstreamFailure(RESET, "the upstream closed the connection before a whole answer head") from None
        except asyncio.LimitOverrunError:
            raise UpstreamFailure(RESET, f"the answer's head is over {_MAX_HEAD_BYTES} bytes") from None
        except ConnectionError:
            if reused:
                raise _Stale from None
            raise
        status, version, headers = _parse_head(raw)
        if 100 <= status < 200 and status != 101:
            reused = False  # bytes came: a break from here on is the upstream's
            continue
        break
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
        elif lower == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif lower == b"connection":
            tokens = {t.strip().lower() for t in value.split(b",")}
            if b"close" in tokens:
                close = True
            elif b"keep-alive" in tokens:
                close = False
    try:
        if head_only or status in _NO_BODY:
            body = b""
        elif chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:  # framed by the close
            body = await reader.read(-1)
            close = True
    except asyncio.IncompleteReadError:
        raise UpstreamFailure(RESET, "the upstream closed the connection mid-body") from None
    except (ValueError, asyncio.LimitOverrunError):
        raise UpstreamFailure(RESET, "malformed chunked body") from None
    return Answer(status, headers, body), not close


def _parse_head(raw: bytes) -> tuple[int, bytes, RawHeaders]:
    lines = raw[:-4].split(b"\r\n")
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


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)  # ValueError: malformed
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers: read and dropped
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
