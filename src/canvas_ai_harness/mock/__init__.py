"""The mock Canvas: a world, a conversation store, a fake AI, the rules, and an HTTP server.

``MockServer`` (Starlette and uvicorn) is imported on first use, so the ``responses`` fake and
other HTTP-free users of ``CanvasService`` do not load a web server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from canvas_ai_harness.mock.llm import Latency
from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, Call, CanvasService, MockConfig
from canvas_ai_harness.mock.throttle import ThrottleConfig
from canvas_ai_harness.mock.world import World, default_target, default_world

if TYPE_CHECKING:
    from canvas_ai_harness.mock.server import MockServer

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "Call",
    "CanvasService",
    "Latency",
    "MockConfig",
    "MockServer",
    "ThrottleConfig",
    "World",
    "default_target",
    "default_world",
]


def __getattr__(name: str) -> Any:
    if name == "MockServer":
        from canvas_ai_harness.mock.server import MockServer

        return MockServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
