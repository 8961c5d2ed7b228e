"""What became of one request: the outcome classes the load suite counts apart.

- ``ok``: the route's success status as the spec declares it (201 for create, 200 otherwise).
- ``throttled``: a rate limit, 403 "Rate Limit Exceeded" or 429, profile ``ended``'s daily limit
  included (``canvas.answers.SLOW_DOWN``; ``shared/canvas-facts.md``: a load test must treat both
  as throttling, not as errors).
- ``ai_unavailable``: 503, the AI service failed behind Canvas.
- ``contract``: a sampled response that breaks the spec or the conversation rules (``checks.py``).
- ``timeout``: no answer within ``--request-timeout``, or still waiting when the run ended (the
  run gives waiting requests up to that long to finish before it stops its users).
- ``redirect``: a 3xx; the load suite never follows one (it might lead to a host the safety rail
  refuses), and a Canvas API route does not redirect.
- ``error``: anything else: another status, a refused or dropped connection.

``timeout`` and ``redirect`` are not Canvas answers (``canvas.answers`` classifies those): they
are decided here, from what the HTTP client saw.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.spec import load_spec

__all__ = [
    "AI_UNAVAILABLE",
    "CONTRACT",
    "ERROR",
    "OK",
    "OUTCOMES",
    "REDIRECT",
    "THROTTLED",
    "TIMEOUT",
    "classify",
    "outcome",
    "success_status",
]

OK: Final = "ok"
THROTTLED: Final = "throttled"
AI_UNAVAILABLE: Final = "ai_unavailable"
CONTRACT: Final = "contract"
ERROR: Final = "error"
TIMEOUT: Final = "timeout"
REDIRECT: Final = "redirect"
OUTCOMES: Final = (OK, THROTTLED, AI_UNAVAILABLE, CONTRACT, TIMEOUT, REDIRECT, ERROR)


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
    """A rate limit (``canvas.answers.SLOW_DOWN``): Canvas's throttling, or profile ``ended``'s daily limit."""
    return answers.classify(status, headers or {}, body) in answers.SLOW_DOWN


def classify(operation_id: str, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """The outcome of a response (``status`` 0: no response at all). Contract checks come on top."""
    return outcome(operation_id, status, answers.classify(status, headers or {}, body))


def outcome(operation_id: str, status: int, kind: str, *, timed_out: bool = False) -> str:
    """The outcome of a response whose ``canvas.answers`` kind is ``kind`` (``timed_out``: none came in time)."""
    if timed_out:
        return TIMEOUT
    if 300 <= status < 400:
        return REDIRECT
    if kind == answers.OK:
        return OK if status == success_status(operation_id) else ERROR
    if kind in answers.SLOW_DOWN:
        return THROTTLED
    if kind == answers.AI_UNAVAILABLE:
        return AI_UNAVAILABLE
    return ERROR
