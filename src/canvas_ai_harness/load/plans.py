"""Load shapes as plain arithmetic: how many users, at what spawn rate, ``t`` seconds into a run.

``shapes.py`` wraps these in locust ``LoadTestShape`` classes; keeping the arithmetic here lets
the tests check it without importing locust (and gevent's monkey-patching).

- steady: start ``users`` at ``spawn_rate`` and hold them for the whole run.
- ramp: climb to ``users`` in ``ramp_steps`` equal steps spread over the run (where does it break?).
- spike: hold ``spike_base`` x users, jump to ``users`` at ``spike_at`` x run time for
  ``spike_duration`` seconds (all at once: spawn rate ``users``/s), then fall back.
- soak: ramp up over ``soak_ramp`` seconds, then hold for a long run (watch latency drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SHAPES", "ShapePlan"]

SHAPES = ("steady", "ramp", "spike", "soak")


@dataclass(frozen=True, slots=True)
class ShapePlan:
    shape: str = "steady"
    users: int = 20
    spawn_rate: float = 5.0
    run_time: float = 60.0  # seconds
    ramp_steps: int = 5
    spike_base: float = 0.2  # share of users before and after the spike
    spike_at: float = 0.4  # share of the run time
    spike_duration: float | None = None  # seconds; default a fifth of the run
    soak_ramp: float | None = None  # seconds; default a tenth of the run

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape {self.shape!r} is not one of {', '.join(SHAPES)}")
        if self.users < 1 or self.spawn_rate <= 0 or self.run_time <= 0 or self.ramp_steps < 1:
            raise ValueError("users, spawn rate, run time and ramp steps must be positive")
        if not 0 <= self.spike_base <= 1 or not 0 <= self.spike_at < 1:
            raise ValueError("spike base and spike-at are shares between 0 and 1")

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        """``(users, spawn_rate)`` at ``elapsed`` seconds, or ``None`` once the run is over."""
        if elapsed >= self.run_time:
            return None
        if self.shape == "steady":
            return self.users, self.spawn_rate
        if self.shape == "ramp":
            step = min(self.ramp_steps - 1, int(elapsed * self.ramp_steps / self.run_time))
            return max(1, math.ceil(self.users * (step + 1) / self.ramp_steps)), self.spawn_rate
        if self.shape == "spike":
            base = max(1, round(self.users * self.spike_base))
            start = self.run_time * self.spike_at
            duration = self.spike_duration if self.spike_duration is not None else self.run_time / 5
            sudden = float(max(self.users, self.spawn_rate))
            if elapsed < start:
                return base, self.spawn_rate
            return (self.users if elapsed < start + duration else base), sudden
        ramp = self.soak_ramp if self.soak_ramp is not None else self.run_time / 10
        return self.users, max(self.spawn_rate if ramp <= 0 else self.users / ramp, 0.1)
