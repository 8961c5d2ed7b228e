"""What a running load test shows: elapsed/total, users, the current rate and each threshold's verdict so far.

The process that holds the measures (locust's master, or its only process) prints
``progress_line`` every ``--progress-every`` seconds, after ``PROGRESS_LINE`` (the CLI asks for
one a second). The CLI passes them through ``ProgressEcho``: on a terminal, one live line
rewritten in place; otherwise one line every ``--progress-every`` seconds (10 by default), so a
CI log stays short. Other lines (a missed threshold, an error) always show, on a line of their own.

The current rate is taken over the last ``RECENT`` complete seconds, not the run's average: a
run that slows down shows it at once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import OUTCOMES
from canvas_ai_harness.load.safety import format_duration
from canvas_ai_harness.load.thresholds import Thresholds, evaluate

__all__ = ["PROGRESS_LINE", "RECENT", "ProgressEcho", "current_rate", "progress_line"]

PROGRESS_LINE = "progress "  # after report.PROGRESS_PREFIX: a progress line, not a message
RECENT = 5  # seconds the current rate is measured over
_SHORT = {"ok": "ok", "throttled": "throttled", "ai_unavailable": "AI-503", "contract": "contract"}
_SHORT |= {"timeout": "timeouts", "redirect": "redirects", "error": "errors"}
_CLEAR = "\r\x1b[2K"  # back to the start of the line, erase it


class _Seconds(Protocol):
    @property
    def outcomes(self) -> Mapping[str, int]: ...


def current_rate(seconds: Mapping[int, Mapping[str, _Seconds]], now: float, window: int = RECENT) -> float:
    """Requests per second over the ``window`` complete seconds before ``now`` (its own second is not over)."""
    last = int(now) - 1
    total = 0
    for t in range(last - window + 1, last + 1):
        for point in seconds.get(t, {}).values():
            total += sum(point.outcomes.values())
    return total / window


def progress_line(
    metrics: Metrics, thresholds: Thresholds, *, elapsed: float, total: float, users: int, now: float
) -> str:
    """``12s/1m users 20 · 4.2 req/s now · ok 40 ... · ✓ error_rate 0 (≤ 0) · ✗ p95_ms.postMessage ...``.

    Every threshold of the file shows with its running verdict, the missed ones first; the run
    rules (timeouts, redirects, stall...) only once one is missed, so that a healthy run's line
    stays short.
    """
    summary: dict[str, Any] = metrics.summary(max(elapsed, 1e-3))
    counts = summary["totals"]
    parts = [
        f"{format_duration(round(elapsed))}/{format_duration(round(total))}",
        f"users {users}",
        f"{current_rate(metrics.seconds, now):.1f} req/s now",
        " ".join(f"{_SHORT[o]} {counts.get(o, 0)}" for o in OUTCOMES if o == "ok" or counts.get(o, 0)),
    ]
    shown = []
    for check in evaluate(thresholds, summary):
        ruled = check.name not in thresholds.scalars and "." not in check.name
        if ruled and (check.passed or (check.name == "requests" and elapsed < RECENT)):
            continue
        shown.append(check)
    # Missed ones first: a terminal's live line is cut at its width.
    parts += [check.short() for check in sorted(shown, key=lambda check: check.passed)]
    return " · ".join(parts)


class ProgressEcho:
    """Shows progress lines and messages: live on a terminal, one line every ``every`` s elsewhere.

    ``say`` prints one line; ``live`` (given on a terminal only) writes raw text with no newline,
    ``width`` the terminal's columns.
    ``clock`` is ``time.monotonic`` but for tests.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        every: float,
        live: Callable[[str], None] | None = None,
        width: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say, self._live, self._every, self._clock = say, live, every, clock
        self._width = width  # a terminal's columns: a live line that wrapped could not be rewritten
        self._last = clock()  # the first line comes ``every`` s after the start, as the next ones
        self._shown = False  # a live line is on the terminal

    @classmethod
    def on_stream(cls, stream: TextIO, say: Callable[[str], None], every: float) -> ProgressEcho:
        """Live on ``stream`` when it is a terminal, one line in ``every`` s otherwise."""
        if not stream.isatty():
            return cls(say, every=every)

        def live(text: str) -> None:
            stream.write(text)
            stream.flush()

        return cls(say, every=every, live=live, width=shutil.get_terminal_size().columns)

    def message(self, line: str) -> None:
        """A line that always shows (a missed threshold, an error, the start)."""
        self._clear()
        self._say(line)

    def progress(self, line: str) -> None:
        if self._live is not None:
            self._live(_CLEAR + (line[: self._width - 1] if self._width > 1 else line))
            self._shown = True
            return
        now = self._clock()
        if self._every > 0 and now - self._last >= self._every:
            self._last = now
            self._say(line)

    def close(self) -> None:
        """Leave the terminal on a fresh line."""
        self._clear()

    def _clear(self) -> None:
        if self._shown and self._live is not None:
            self._live(_CLEAR)
            self._shown = False
