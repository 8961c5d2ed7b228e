"""Serve an ASGI app with uvicorn on a socket bound up front: in a background thread or in the foreground.

Binding before starting means port 0 gives a free port and ``url`` is known at once. The mock
Canvas and the proxy both build on ``UvicornServer``.

``ConnectionLimits`` (``budgets.py``) bounds what one client can make the server hold: the
bytes of a request's head, the time a request has to arrive, and the number of connections that
are idle or still sending a request. ``bounded_protocol`` enforces it in uvicorn's httptools
protocol, which has no header-size limit and times out only idle keep-alive connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from types import TracebackType
from typing import Any, ClassVar, Self

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from canvas_ai_harness.budgets import ConnectionLimits
from canvas_ai_harness.errors import ConfigError

__all__ = [
    "BoundedHttpToolsProtocol",
    "ClientLeft",
    "ConnectionLimits",
    "UvicornServer",
    "bounded_protocol",
    "freeze_heap",
    "heap_frozen",
    "listen",
    "read_body",
]


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port already taken is a ``ConfigError`` naming the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _answer(status: int, reason: str, message: str) -> bytes:
    body = message.encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_TOO_LARGE = _answer(431, "Request Header Fields Too Large", "Request header fields too large.")
_TIMEOUT = _answer(408, "Request Timeout", "Request not received in time.")
# A logger outside logging's tree (so that no logging configuration re-enables it) that drops everything.
_QUIET = logging.Logger("canvas_ai_harness.serving.refused", logging.CRITICAL + 1)
_QUIET.addHandler(logging.NullHandler())


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request already answered."""


class _HeadWithBody:
    """A response cycle's transport that holds the response's head until its first body bytes.

    uvicorn writes an answer's head and its body in two writes, two system calls; joined, most
    answers go out in one. A ``100 Continue`` goes out at once; closing sends what is held. Not
    used for HEAD, whose answer has no body write.
    """

    __slots__ = ("_head", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:
            if data != b"HTTP/1.1 100 Continue\r\n\r\n":
                self._started, self._head = True, data  # the head: the cycle's first write
                return
        elif self._head:
            data, self._head = self._head + data, b""
        self._transport.write(data)

    def close(self) -> None:
        if self._head:
            self._transport.write(self._head)
            self._head = b""
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``ConnectionLimits``; ``bounded_protocol`` binds the limits."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    idle_cap: ClassVar[int] = limits.idle_connections  # read once: the default asks the open-file limit
    # Connections idle or receiving a request, oldest first; shared by one server's connections.
    waiting: ClassVar[OrderedDict[BoundedHttpToolsProtocol, None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes of the current request's head received so far
        self._in_head = True
        self._receiving = False  # a request has begun and is not complete
        self._crossed = False  # a head or a message ended in the bytes being parsed
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._chunk = 0  # bytes of the data_received call being parsed

    # -- waiting connections and the read deadline --------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        waiting = type(self).waiting
        while len(waiting) >= self.idle_cap:
            oldest, _ = waiting.popitem(last=False)
            oldest._close(None)
        self._wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait(self) -> None:
        """This connection waits for (the rest of) a request: it counts, and the deadline runs."""
        type(self).waiting[self] = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.limits.read_timeout_s, self._timed_out)

    def _stop_waiting(self) -> None:
        type(self).waiting.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self._refused:
            self._close(None)  # the 431 went out; the client had until now to read it
        elif cycle is not None and cycle.response_complete and cycle.more_body:
            self._close(None)  # answered early (a 413); the rest of its body is late
        elif cycle is None or cycle.response_complete:
            self._close(_TIMEOUT)  # the head is still arriving; nothing is being answered
        elif not cycle.response_started:
            cycle.disconnected = True  # the body is late: the app reads a disconnect, its answer is dropped
            cycle.message_event.set()
            self._close(_TIMEOUT)
        else:
            self._close(None)

    def _linger(self, answer: bytes) -> None:
        """Answer, stop sending, and discard what the client still sends until the deadline closes it.

        Closing at once, with unread bytes, would reset the connection and lose the answer for a
        client still sending its head.
        """
        if self.transport.is_closing():
            return
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.limits.read_timeout_s, self._timed_out)

    def _close(self, answer: bytes | None) -> None:
        self._stop_waiting()
        if self.transport.is_closing():
            return
        if answer is not None:
            self.transport.write(answer)
        self.transport.close()

    # -- parser callbacks ---------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered 431; what still comes is dropped
        self._crossed = False
        self._chunk = len(data)
        super().data_received(data)
        if self._receiving and self._deadline is None and not self.transport.is_closing():
            # A request began in these bytes and is not complete: its deadline runs from now. (A
            # request that arrives whole, the usual case, never needs a timer.)
            self._arm()
        if self._in_head and not self._crossed and not self.transport.is_closing():
            # No head or message ended in these bytes and a head is incomplete: they were all head.
            # httptools keeps a header's name and value whole until it ends, so the count is
            # taken here, on the bytes received (a never-ending header never reaches on_header).
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refused = True
                self._linger(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The deadline runs from a request's first byte (or from the connection); data_received
        # arms it once these bytes are parsed, if the request is still incomplete by then.
        type(self).waiting[self] = None
        self._receiving = True

    def on_headers_complete(self) -> None:
        self._in_head, self._crossed = False, True
        # The line and headers as the parser reported them (uvicorn keeps each whole; lower-casing
        # a name keeps its length): one sum here, rather than a Python callback of ours per header.
        # They are no longer than the bytes received since the head began, so when those fit the
        # budget (a request that came in one small read, the usual case) there is nothing to add up.
        budget = self.limits.max_header_bytes
        if self._head_bytes + self._chunk > budget and (
            len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > budget
        ):  # a head over the budget that came in one piece
            self._refused = True
            self._linger(_TOO_LARGE)
            # Stop the parser: httptools raises an HttpParserError, which uvicorn would log as an
            # invalid request and answer 400; the 431 is already out (see send_400_response).
            self.logger = _QUIET
            raise _Refused
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope["method"] != "HEAD":
            cycle.transport = _HeadWithBody(self.transport)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = False
        self._stop_waiting()
        self._in_head, self._head_bytes, self._crossed = True, 0, True  # what follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._wait_idle()

    def _wait_idle(self) -> None:
        # Between keep-alive requests uvicorn's own keep-alive timer runs; the connection counts
        # as waiting, so that a flood of idle keep-alive connections is bounded as well.
        type(self).waiting[self] = None


def bounded_protocol(limits: ConnectionLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for one server: its limits, and its own table of waiting connections."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"limits": limits, "waiting": OrderedDict(), "idle_cap": limits.idle_connections},
    )


class UvicornServer:
    """``app`` served by uvicorn on ``host:port`` (port 0: any free port)."""

    name = "the server"

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ConnectionLimits | None = None,
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self._socket = listen(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.limits = limits or ConnectionLimits()
        self._protocol = bounded_protocol(self.limits)
        options = {
            "log_level": "warning",
            "access_log": False,
            "timeout_keep_alive": self.limits.keep_alive_s,
            "http": self._protocol,
            **uvicorn_options,
        }
        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread: threading.Thread | None = None

    @property
    def idle_cap(self) -> int:
        """How many connections may be idle or still sending a request before the oldest is closed."""
        return self._protocol.idle_cap

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        """Serve in a daemon thread; return once the server accepts connections.

        ``timeout`` only bounds a server that never comes up (a busy machine may take seconds).
        """
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {timeout:g} s")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM (uvicorn handles both), or until asked to stop.

        The process is the server's: what exists now (modules, the app, a world built at start)
        lives as long as it does, so it is moved out of the garbage collector's sight
        (``gc.freeze()``). A full collection then walks only what serving created: at 100,000 stored
        conversations, full collections during a postMessage load were its p99 (``bench/mock_throughput.py``).
        """
        freeze_heap()
        # uvicorn shuts down gracefully, then re-raises the SIGINT it caught: for a server that
        # runs until Ctrl-C, that is the normal end, not an interruption (exit 0, not 130).
        with contextlib.suppress(KeyboardInterrupt):
            self._server.run(sockets=[self._socket])

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started server to stop by itself; return whether it did."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self, grace: float = 2.0) -> None:
        """Stop serving: finish the requests in flight for up to ``grace`` seconds, then drop them."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=grace)
            if self._thread.is_alive():
                # A request held open (a slow AI reply, a client that never reads) would keep
                # uvicorn waiting; forced, it cancels what is left.
                self._server.force_exit = True
                self._thread.join(timeout=30)
        with contextlib.suppress(OSError):
            self._socket.close()

    @staticmethod
    def stop_all(servers: Iterable[UvicornServer]) -> None:
        """Stop several servers at once: each takes ~0.2 s to shut down, and they do it side by side."""
        servers = list(servers)
        for server in servers:
            server._server.should_exit = True
        for server in servers:
            server.stop()

    def abort(self) -> None:
        """Stop answering at once, as a crashed server does: refuse new connections, reset open ones.

        Call it from the server's own thread (an app or a hook of the service); for tests of a
        target that dies mid-run.
        """
        for listener in self._server.servers:
            listener.close()
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        self._server.should_exit = True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def freeze_heap() -> None:
    """Collect, then move every object that survives into the collector's permanent generation.

    For a process that serves until it exits (``serve_forever``), after it has built what it keeps
    for good. Frozen objects are still freed when nothing refers to them; only cyclic garbage
    among them would stay, so call it after building, not while requests are in flight.
    """
    gc.collect()
    gc.freeze()


def heap_frozen() -> bool:
    """Whether this process froze its heap (it serves in the foreground): then bulk builds freeze theirs."""
    return gc.get_freeze_count() > 0


class ClientLeft(Exception):
    """The client closed the connection (or was timed out) before its request body was complete."""


async def read_body(headers: dict[str, str], receive: Any, limit: int) -> bytes | None:
    """An ASGI request's body; ``None`` when it is over ``limit`` bytes (then read no further).

    Raises ``ClientLeft`` when the client leaves before sending all of it. The mock and the
    proxy both read bodies through it, each with its own budget.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        # The usual case: the whole body (or none) in one message; no list to join.
        whole: bytes = message.get("body", b"")
        return None if len(whole) > limit else whole
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientLeft
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        message = await receive()
