"""Requests still waiting on the target, and the longest stretch in which none was answered.

One ``InFlight`` per locust process (users call ``begin`` and ``end`` around each request). It
answers two questions a verdict needs and locust's own figures do not:

- which requests are still waiting when the run stops (``waiting``): the run gives them up to
  ``--request-timeout`` to finish, and counts what is still waiting then as a timeout;
- whether the target stopped answering (``longest_stall``): the longest stretch during which at
  least one request waited and not one was answered. A healthy target's stalls are about its
  slowest answer; a frozen or hung one's grow until the run ends.

Plain Python, no locust and no gevent: the tests drive it with their own clock.
"""

from __future__ import annotations

import itertools

__all__ = ["InFlight"]


class InFlight:
    """The requests one process is waiting on, and how long it went without an answer."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self._ids = itertools.count(1)
        self._since: float | None = None  # waiting and unanswered since
        self.longest = 0.0

    def begin(self, now: float) -> int:
        """A request is sent at ``now``; the number returned ends it."""
        if not self._started:
            self._since = now
        token = next(self._ids)
        self._started[token] = now
        return token

    def end(self, token: int, now: float, *, answered: bool) -> None:
        """The request ``token`` ended at ``now``: ``answered``, or given up (a timeout, a stopped user)."""
        if self._started.pop(token, None) is None:
            return
        if self._since is not None and (answered or not self._started):
            self.longest = max(self.longest, now - self._since)
            self._since = now if self._started else None

    def waiting(self) -> int:
        return len(self._started)

    def oldest(self) -> float | None:
        """When the longest-waiting request was sent, or ``None`` when none waits."""
        return min(self._started.values()) if self._started else None

    def stall(self, now: float) -> float:
        """The longest stall so far, counting the one going on at ``now``."""
        current = now - self._since if self._since is not None and self._started else 0.0
        return max(self.longest, current)

    def reset(self) -> None:
        self._started.clear()
        self._since = None
        self.longest = 0.0
