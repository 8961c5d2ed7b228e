"""The spec-checking proxy: between a client and a Canvas (or the mock), checks every exchange.

``canvas-ai-harness proxy`` runs ``run_proxy()``. ``ProxyServer`` runs the same proxy in a
background thread for tests and scripts; ``ConformanceReport`` is what it reports.
"""

from __future__ import annotations

from canvas_ai_harness.proxy.app import Proxy, ProxyConfig, create_app
from canvas_ai_harness.proxy.report import ConformanceReport, write_report
from canvas_ai_harness.proxy.server import ProxyServer, check_upstream, run_proxy

__all__ = [
    "ConformanceReport",
    "Proxy",
    "ProxyConfig",
    "ProxyServer",
    "check_upstream",
    "create_app",
    "run_proxy",
    "write_report",
]
