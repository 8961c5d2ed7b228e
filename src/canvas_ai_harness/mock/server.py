"""Run the mock Canvas on a real socket: in a background thread (tests, embedded runs) or in the
foreground (``canvas-ai-harness mock``).

``MockServer`` binds before it starts, so port 0 gives a free port and ``url`` is known at once.
At start it raises its open-file limit (``budgets.raise_open_file_limit``) and, unless told a
number, lets all of it but a reserve be idle connections. The faithful ``CanvasService`` serves unless the
config asks for faults (tests, ``--fault``): only then is ``mock/faults.py`` imported and the
service wrapped.
"""

from __future__ import annotations

import dataclasses

from canvas_ai_harness.budgets import MOCK_OPEN_FILES, ConnectionLimits, raise_open_file_limit
from canvas_ai_harness.config import Target
from canvas_ai_harness.mock.app import create_app
from canvas_ai_harness.mock.service import CanvasService, MockConfig
from canvas_ai_harness.mock.world import default_target
from canvas_ai_harness.serving import UvicornServer

__all__ = ["MockServer", "build_service"]


def build_service(config: MockConfig) -> CanvasService:
    """The faithful ``CanvasService``, wrapped in the faults ``config.faults`` names (if any)."""
    if not config.faults:
        return CanvasService(config)
    from canvas_ai_harness.mock.faults import faulty_service  # only a test or --fault gets here

    return faulty_service(config)


class MockServer(UvicornServer):
    """The mock Canvas served by uvicorn on ``host:port`` (port 0: any free port)."""

    name = "the mock Canvas"

    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        config = config or MockConfig()
        self.service = build_service(config)
        # A load rehearsal's students keep their connections while they think: room for tens of
        # thousands of them, idle, rather than the 1,000 a default open-file limit leaves.
        raise_open_file_limit(max(MOCK_OPEN_FILES, 2 * (config.max_idle_connections or 0)))
        limits = ConnectionLimits(
            config.max_header_bytes,
            config.read_timeout_s,
            config.max_idle_connections,
            config.keep_alive_s,
            idle_ceiling=None,
        )
        super().__init__(create_app(self.service), host, port, limits, lifespan="off")

    def target(self) -> Target:
        """A target describing this server's default world, every optional field filled."""
        target = default_target(self.url, self.service.profile.name)
        if not self.service.extra_students:
            return target
        return dataclasses.replace(
            target, tokens=dataclasses.replace(target.tokens, students=self.service.extra_students)
        )
