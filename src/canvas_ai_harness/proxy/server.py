"""Run the proxy on a real socket, in a background thread (tests, scripts) or in the foreground (CLI).

``ProxyServer`` binds before it starts, so port 0 gives a free port and ``url`` is known at
once. ``run_proxy()`` is what ``canvas-ai-harness proxy`` calls: it optionally starts the
embedded mock as the upstream, serves until Ctrl-C, SIGTERM or ``max_requests``, and returns the
finished report (already written to ``report_path`` by the app's shutdown).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from urllib.parse import urlsplit

import uvicorn

from canvas_ai_harness.errors import ConfigError, TargetUnreachable
from canvas_ai_harness.proxy.app import Proxy, ProxyConfig, create_app
from canvas_ai_harness.proxy.report import ConformanceReport

__all__ = ["ProxyServer", "check_upstream", "run_proxy"]


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ProxyServer:
    """The proxy served by uvicorn on ``host:port`` (port 0: any free port)."""

    def __init__(self, config: ProxyConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = Proxy(config, on_limit=self._limit_reached)
        self.app = create_app(self.proxy)
        self._socket = _listen(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                proxy_headers=False,  # X-Forwarded-* are the client's business; pass them on, do not act on them
                lifespan="on",
                server_header=False,  # the upstream's Server and Date headers go through unchanged
                date_header=False,
                timeout_keep_alive=30,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def report(self) -> ConformanceReport:
        return self.proxy.report

    def _limit_reached(self) -> None:
        self._server.should_exit = True

    def start(self) -> ProxyServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the proxy did not start within 10 s")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C, SIGTERM or ``max_requests`` (uvicorn handles the signals)."""
        self._server.run(sockets=[self._socket])

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started server to stop by itself (``max_requests``); return whether it did."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def check_upstream(url: str, timeout: float = 5.0) -> None:
    """Raise ``TargetUnreachable`` unless something accepts TCP connections at ``url``'s host and port."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--upstream {url!r} must be an http(s) URL such as http://127.0.0.1:8080")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise TargetUnreachable(
            f"nothing answers at {parts.hostname}:{port} ({exc.strerror or exc}); "
            "start your Canvas or mock first, or use --mock"
        ) from exc


def run_proxy(
    config: ProxyConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    mock: bool = False,
    announce: Callable[[str], None] = print,
) -> ConformanceReport:
    """Serve the proxy in the foreground and return its finished report.

    With ``mock``, the embedded mock Canvas runs in this process on a free port and is the
    upstream (``config.upstream`` is ignored); its tokens are redacted like any other.
    """
    server = None
    if mock:
        from canvas_ai_harness.mock import MockServer

        server = MockServer().start()
        target = server.target()
        config = replace(config, upstream=server.url, secrets=(*config.secrets, *target.secrets()))
    else:
        check_upstream(config.upstream)
    try:
        proxy = ProxyServer(config, host=host, port=port)
        strict = " (strict: non-conforming requests answered 400)" if config.strict else ""
        limit = f"; stops after {config.max_requests} requests" if config.max_requests else ""
        announce(f"Proxy on {proxy.url} -> {config.upstream}{' (embedded mock)' if mock else ''}{strict}{limit}")
        if config.report_path is not None:
            announce(f"The report goes to {config.report_path} on exit. Press Ctrl-C to stop.")
        with contextlib.suppress(KeyboardInterrupt):
            proxy.serve_forever()
        return proxy.report.finish()
    finally:
        if server is not None:
            server.stop()
