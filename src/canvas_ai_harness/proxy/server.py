"""Run the proxy on a real socket, in a background thread (tests, scripts) or in the foreground (CLI).

``ProxyServer`` binds before it starts, so port 0 gives a free port and ``url`` is known at
once. ``run_proxy()`` is what ``canvas-ai-harness proxy`` calls: it optionally starts the
embedded mock as the upstream, serves until Ctrl-C, SIGTERM or ``max_requests``, and returns the
finished report (already written to ``report_path`` by the app's shutdown).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from canvas_ai_harness.budgets import ConnectionLimits
from canvas_ai_harness.errors import ConfigError, TargetUnreachable
from canvas_ai_harness.proxy.app import Proxy, ProxyConfig, create_app
from canvas_ai_harness.proxy.report import ConformanceReport
from canvas_ai_harness.serving import UvicornServer

if TYPE_CHECKING:
    from canvas_ai_harness.mock import MockConfig

__all__ = ["SHUTDOWN_GRACE_S", "ProxyServer", "check_upstream", "run_proxy"]

# On Ctrl-C or SIGTERM, requests still waiting for the upstream get this long, then they are
# cancelled (counted "stopped-waiting") and the report is written: a hung upstream cannot hold
# the proxy for its whole --upstream-timeout.
SHUTDOWN_GRACE_S = 2.0
_SETTLE_BOUND_S = 10.0  # how long reading the report waits for answers being recorded (a client not reading)


class ProxyServer(UvicornServer):
    """The proxy served by uvicorn on ``host:port`` (port 0: any free port)."""

    name = "the proxy"

    def __init__(self, config: ProxyConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = Proxy(config, on_limit=self._limit_reached)
        limits = ConnectionLimits(config.max_header_bytes, config.read_timeout_s, config.max_idle_connections)
        super().__init__(
            create_app(self.proxy),
            host,
            port,
            limits,
            proxy_headers=False,  # X-Forwarded-* are the client's business; pass them on, do not act on them
            lifespan="on",
            server_header=False,  # the upstream's Server and Date headers go through unchanged
            date_header=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )

    @property
    def report(self) -> ConformanceReport:
        """The report so far, every answer already sent in it (``Proxy.settle``)."""
        self.proxy.settle(_SETTLE_BOUND_S)
        return self.proxy.report

    def _limit_reached(self) -> None:
        self._server.should_exit = True


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
    mock: bool | MockConfig = False,
    announce: Callable[[str], None] = print,
    banner: Callable[[str, str, Any], str] | None = None,
) -> ConformanceReport:
    """Serve the proxy in the foreground and return its finished report.

    With ``mock`` (``True``, or the ``MockConfig`` to run it with), the embedded mock Canvas runs in
    this process on a free port and is the upstream (``config.upstream`` is ignored); its tokens are
    redacted like any other in the report. ``banner(proxy_url, mock_url, target)``, when given, is
    announced once the proxy listens (the CLI prints the mock's fixed tokens and a ``curl`` line).
    """
    server = None
    if mock:
        from canvas_ai_harness.mock import MockServer

        server = MockServer(None if mock is True else mock).start()
        target = server.target()
        config = replace(config, upstream=server.url, secrets=(*config.secrets, *target.secrets()))
    else:
        check_upstream(config.upstream)
    try:
        proxy = ProxyServer(config, host=host, port=port)
        strict = " (strict: non-conforming requests answered 400)" if config.strict else ""
        limit = f"; stops after {config.max_requests} requests" if config.max_requests else ""
        announce(f"Proxy on {proxy.url} -> {config.upstream}{' (embedded mock)' if mock else ''}{strict}{limit}")
        if server is not None and banner is not None:
            announce(banner(proxy.url, server.url, target))
        if config.report_path is not None:
            announce(f"The report goes to {config.report_path} on exit. Press Ctrl-C to stop.")
        with contextlib.suppress(KeyboardInterrupt):
            proxy.serve_forever()
        return proxy.report.finish()
    finally:
        if server is not None:
            server.stop()
