"""One live line per phase of a contract run, in place of pytest's dots.

A run has phases (the fixed scenarios, the property-based explorations, the stateful sequences);
the line says which, how many of its tests ran of those planned, how many requests went out, and
what the run spent of its AI-call and create budgets:

    scenarios: 23/41 tests · 120 requests · AI calls 30 of 150 · creates 12 of 35 · 18 tests to go · 9 s

On a terminal the line is redrawn in place as requests go out (at most every ``refresh`` seconds)
and left standing when its phase ends. Elsewhere (CI logs, a pipe) a line is written at most
every ``interval`` seconds (10), and one at the end, so that a log stays short. The clock and the
writer are passed in: tests drive both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["INTERVAL", "Counts", "Progress"]

INTERVAL: Final = 10.0  # seconds between lines when the output is not a terminal
REFRESH: Final = 0.1  # seconds between redraws of the live line on a terminal
_CLEAR: Final = "\r\x1b[K"  # back to the start of the line, and clear it


@dataclass(frozen=True, slots=True)
class Counts:
    """What the run has spent so far."""

    requests: int = 0
    ai_calls: int = 0
    ai_limit: int | None = None
    creates: int = 0
    create_limit: int | None = None


def _of(used: int, limit: int | None) -> str:
    return f"{used} of {limit}" if limit is not None else f"{used} (no limit)"


class Progress:
    """The live line: ``phase()`` when a phase starts, ``done()`` after each test, ``tick()`` per request."""

    def __init__(
        self,
        write: Callable[[str], None],
        counts: Callable[[], Counts],
        *,
        tty: bool,
        clock: Callable[[], float] = time.monotonic,
        interval: float = INTERVAL,
        refresh: float = REFRESH,
        width: Callable[[], int] | None = None,
    ) -> None:
        self._write, self._counts, self._tty, self._clock = write, counts, tty, clock
        self._interval, self._refresh = interval, refresh
        self._width = width  # the terminal's columns: a line that wrapped could not be redrawn in place
        self.started = clock()
        self._last = self.started  # when a line was last written (not on a terminal: the first after 10 s)
        self.name = ""
        self.planned = 0
        self.ran = 0
        self._open = False  # a live line is on the terminal, not yet ended by a newline
        self._finished = False

    def line(self) -> str:
        c = self._counts()
        left = self.planned - self.ran
        parts = [
            f"{self.name}: {self.ran}/{self.planned} tests",
            f"{c.requests} requests",
            f"AI calls {_of(c.ai_calls, c.ai_limit)}",
            f"creates {_of(c.creates, c.create_limit)}",
            f"{left} tests to go" if left else "phase done",
            f"{self._clock() - self.started:.0f} s",
        ]
        return " · ".join(parts)

    def phase(self, name: str, planned: int) -> None:
        """A new phase starts: the previous one's line stays (on a terminal) as it ended."""
        if name == self.name or self._finished:
            return
        self._end_line()
        self.name, self.planned, self.ran = name, planned, 0
        self._show(force=self._tty)

    def done(self) -> None:
        """One test of the phase ended."""
        if self._finished:
            return
        self.ran += 1
        self._show()

    def tick(self) -> None:
        """A request went out."""
        if self.name and not self._finished:
            self._show()

    def finish(self) -> None:
        """The run ended: the last line stays, on a terminal and in a log alike."""
        if not self.name or self._finished:
            return
        self._finished = True
        if self._tty:
            self._end_line()  # its last figures, then the newline
        else:
            self._emit(self.line() + "\n")

    def _end_line(self) -> None:
        if self._open:
            self._show(force=True)
            self._write("\n")
            self._open = False

    def _show(self, force: bool = False) -> None:
        now = self._clock()
        if self._tty:
            if force or now - self._last >= self._refresh:
                line = self.line()
                if self._width is not None:
                    line = line[: max(20, self._width() - 1)]
                self._emit(_CLEAR + line)
                self._open = True
        elif now - self._last >= self._interval:
            self._emit(self.line() + "\n")

    def _emit(self, text: str) -> None:
        self._last = self._clock()
        self._write(text)
