"""canvas-ai-harness: contract and load testing for the Canvas LMS AI Conversations API."""

from __future__ import annotations

from canvas_ai_harness.config import Target, Tokens, load_target, parse_target, write_target
from canvas_ai_harness.errors import (
    ConfigError,
    HarnessError,
    HarnessFailure,
    SetupError,
    SpecError,
    TargetUnreachable,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HarnessError",
    "HarnessFailure",
    "SetupError",
    "SpecError",
    "Target",
    "TargetUnreachable",
    "Tokens",
    "__version__",
    "load_target",
    "parse_target",
    "write_target",
]
