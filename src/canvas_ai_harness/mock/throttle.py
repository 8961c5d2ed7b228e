"""Canvas's request throttling: a leaky bucket per user.

Each request pays an up-front cost when it starts and is charged its real cost when it ends,
so many slow requests in flight at once fill the bucket, as on Canvas. A request that would
overflow the bucket is refused with 403 ``text/plain`` "403 Forbidden (Rate Limit Exceeded)".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LeakyBuckets", "ThrottleConfig"]


@dataclass(slots=True, frozen=True)
class ThrottleConfig:
    capacity: float = 800.0
    outflow: float = 10.0  # units drained per second
    upfront: float = 50.0
    cost: float = 1.0  # what a finished request really costs

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.outflow < 0 or self.upfront < 0 or self.cost < 0:
            raise ValueError("throttle capacity must be positive and outflow, upfront and cost not negative")


class LeakyBuckets:
    """One bucket per key (a user, or an address for anonymous requests)."""

    def __init__(self, config: ThrottleConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        level, then = self._levels.get(key, (0.0, now))
        return max(0.0, level - (now - then) * self.config.outflow)

    def admit(self, key: str) -> float | None:
        """Start a request: charge the up-front cost and return what remains, or ``None`` if refused."""
        with self._lock:
            now = self._clock()
            level = self._level(key, now)
            if level + self.config.upfront > self.config.capacity:
                self._levels[key] = (level, now)
                return None
            level += self.config.upfront
            self._levels[key] = (level, now)
            return self.config.capacity - level

    def settle(self, key: str) -> float:
        """Finish a request: swap its up-front cost for its real cost; return what remains."""
        with self._lock:
            now = self._clock()
            level = max(0.0, self._level(key, now) - self.config.upfront + self.config.cost)
            self._levels[key] = (level, now)
            return self.config.capacity - level

    def reset(self) -> None:
        with self._lock:
            self._levels.clear()
