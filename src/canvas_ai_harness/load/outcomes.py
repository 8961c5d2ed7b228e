"""What became of one request: the outcome classes the load suite counts apart.

- ``ok``: the route's success status as the spec declares it (201 for create, 200 otherwise).
- ``throttled``: Canvas's throttling, 403 "Rate Limit Exceeded" or 429 (``shared/canvas-facts.md``:
  a load test must treat both as throttling, not as errors).
- ``ai_unavailable``: 503, the AI service failed behind Canvas.
- ``contract``: a sampled response that breaks the spec or the conversation rules (``checks.py``).
- ``error``: anything else: another status, a refused connection, a timeout.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final

from canvas_ai_harness import rules
from canvas_ai_harness.spec import load_spec

__all__ = ["AI_UNAVAILABLE", "CONTRACT", "ERROR", "OK", "OUTCOMES", "THROTTLED", "classify", "success_status"]

OK: Final = "ok"
THROTTLED: Final = "throttled"
AI_UNAVAILABLE: Final = "ai_unavailable"
CONTRACT: Final = "contract"
ERROR: Final = "error"
OUTCOMES: Final = (OK, THROTTLED, AI_UNAVAILABLE, CONTRACT, ERROR)

_THROTTLE_MARK: Final = rules.RATE_LIMITED_TEXT.encode()


@functools.cache
def success_status(operation_id: str) -> int:
    """The one 2xx status the spec declares for ``operation_id``."""
    for item in load_spec()["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                codes = sorted(int(code) for code in operation.get("responses", {}) if str(code).startswith("2"))
                if codes:
                    return codes[0]
    raise KeyError(f"the spec declares no success status for {operation_id!r}")


def is_throttled(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bool:
    """Canvas's throttling: 429, or 403 with the "Rate Limit Exceeded" body or an empty bucket."""
    if status == 429:
        return True
    if status != 403:
        return False
    if _THROTTLE_MARK in body:
        return True
    remaining = (headers or {}).get("x-rate-limit-remaining")
    try:
        return remaining is not None and float(remaining) <= 0.0
    except ValueError:
        return False


def classify(operation_id: str, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """The outcome of a response (``status`` 0: no response at all). Contract checks come on top."""
    if status == success_status(operation_id):
        return OK
    if is_throttled(status, body, headers):
        return THROTTLED
    if status == 503:
        return AI_UNAVAILABLE
    return ERROR
