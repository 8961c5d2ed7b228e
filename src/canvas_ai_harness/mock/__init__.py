"""The mock Canvas: a world, a conversation store, a fake AI, the rules, and an HTTP server."""

from __future__ import annotations

from canvas_ai_harness.mock.llm import Latency
from canvas_ai_harness.mock.server import MockServer, default_target
from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, Call, CanvasService, MockConfig
from canvas_ai_harness.mock.throttle import ThrottleConfig
from canvas_ai_harness.mock.world import World, default_world

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
