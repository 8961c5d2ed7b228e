"""What keeps a run safe against a live Canvas: the AI-call and create budgets and the pace of requests.

Every create and post_message costs a real AI call on a real Canvas. ``LLMBudget`` counts them,
charging before a request is sent and refunding a 4xx (Canvas refused before calling its AI).
``CreateBudget`` counts creates the same way (``--max-creates``): Canvas allows each user only so
many a day (profile ``ended``: 100), so a run must leave room for the next one.
``Pacer`` spaces requests out (``--rate-limit``) and slows down further whenever Canvas throttles.

A check that cannot run for one of these reasons raises a ``CannotRun`` subclass; the suite
reports it as skipped with that reason, and the run as incomplete (exit 1): it is never a
contract failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "BudgetExhausted",
    "CannotRun",
    "CreateBudget",
    "DailyLimitReached",
    "LLMBudget",
    "MissingTargetField",
    "NotExercised",
    "Pacer",
    "Throttled",
]

# Below this many units left in Canvas's leaky bucket (X-Rate-Limit-Remaining), pause a moment.
LOW_REMAINING = 100.0
_MAX_SLOWDOWN = 5.0


class CannotRun(Exception):
    """A check could not run; ``reason`` says why in one line. ``incomplete`` runs exit 1."""

    incomplete = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BudgetExhausted(CannotRun):
    """The run has used every AI call ``--max-llm-calls`` allows."""


class Throttled(CannotRun):
    """Canvas kept throttling after every retry."""


class DailyLimitReached(CannotRun):
    """Profile ``ended``: the test user hit Canvas's per-user daily AI limit (429 rate_limited)."""


class NotExercised(CannotRun):
    """A scenario could not reach the rule it is about because the target already broke another."""

    incomplete = False


class MissingTargetField(CannotRun):
    """The target file lacks an optional field this check needs: a skip, not an incomplete run."""

    incomplete = False

    def __init__(self, field_name: str) -> None:
        super().__init__(f"the target file has no {field_name}")
        self.field = field_name


@dataclass(slots=True)
class LLMBudget:
    """How many AI calls (creates and post_messages) the run may cause; ``limit=None``: no limit."""

    limit: int | None
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    what: ClassVar[str] = "AI-call budget"
    unit: ClassVar[str] = "calls"
    option: ClassVar[str] = "--max-llm-calls"

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def charge(self) -> None:
        """Take one call from the budget, or raise ``BudgetExhausted``."""
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                raise BudgetExhausted(
                    f"the {self.what} is spent ({self.limit} {self.unit}, {self.option}); raise it to run this check"
                )
            self.used += 1

    def refund(self) -> None:
        with self._lock:
            self.used = max(0, self.used - 1)

    def share(self, parts: int) -> int | None:
        """A fair part of what is left, for one of ``parts`` explorations still to run."""
        remaining = self.remaining
        return None if remaining is None else remaining // max(1, parts)


@dataclass(slots=True)
class CreateBudget(LLMBudget):
    """How many conversations the run may create (``--max-creates``); ``limit=None``: no limit."""

    what: ClassVar[str] = "create budget"
    unit: ClassVar[str] = "creates"
    option: ClassVar[str] = "--max-creates"


class Pacer:
    """Spaces requests ``1/rate`` seconds apart, and further apart after Canvas throttles."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.slowdown = 0.0
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None

    def wait(self) -> None:
        gap = self.interval + self.slowdown
        if gap and self._last is not None:
            pause = self._last + gap - self._clock()
            if pause > 0:
                self._sleep(pause)
        self._last = self._clock()

    def throttled(self) -> None:
        self.slowdown = min(_MAX_SLOWDOWN, max(0.25, self.slowdown * 2))

    def answered(self, remaining: float | None) -> None:
        """An answer that was not throttled; ``remaining`` is its X-Rate-Limit-Remaining, if any."""
        self.slowdown *= 0.8
        if self.slowdown < 0.01:
            self.slowdown = 0.0
        if remaining is not None and remaining < LOW_REMAINING:
            self._sleep(1.0)
