"""Serve an ASGI app with uvicorn on a socket bound up front: in a background thread or in the foreground.

Binding before starting means port 0 gives a free port and ``url`` is known at once. The mock
Canvas and the proxy both build on ``UvicornServer``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn

from canvas_ai_harness.errors import ConfigError

__all__ = ["UvicornServer", "listen"]


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


class UvicornServer:
    """``app`` served by uvicorn on ``host:port`` (port 0: any free port)."""

    name = "the server"

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        self.app = app
        self._socket = listen(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        options = {"log_level": "warning", "access_log": False, "timeout_keep_alive": 30, **uvicorn_options}
        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread: threading.Thread | None = None

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
        """Serve in this thread until Ctrl-C or SIGTERM (uvicorn handles both), or until asked to stop."""
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
