"""Waiting for locust to end, and stopping it on Ctrl-C without ever losing its reports.

``run.py`` starts locust in a session of its own (the terminal's Ctrl-C reaches only the CLI) and
calls ``wait_for_locust``. Ctrl-C and SIGTERM are counted here, by a signal handler, rather than
raised: a second press can then come at any moment, even while the first is being handled.

- the first: locust's master gets one SIGINT: it stops its users, settles their requests, ends
  the conversations the run opened and writes its reports;
- the second: ``HURRY_SIGNAL`` to locust's process group (the master and its workers) cuts the
  settling and clean-up short; locust still writes its reports, saying clean-up was cut short;
- the third: locust is stopped at once (its reports may be lost).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["HURRY_SIGNAL", "stop", "wait_for_locust"]

HURRY_SIGNAL = signal.SIGUSR1  # runtime.py listens for it in every locust process
_POLL = 0.1


def stop(process: subprocess.Popen[Any], sig: signal.Signals, grace: float) -> None:
    """Stop a child this package started: ``sig`` first, SIGKILL to its process group after ``grace`` s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only locust's processes are in it
        process.wait(timeout=10)


class _Presses:
    """Ctrl-C and SIGTERM, counted (in the main thread only: elsewhere they keep raising)."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def press(signum: int, frame: object) -> None:
            self.count += 1

        previous = {sig: signal.signal(sig, press) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_SAY = {
    1: "interrupted: stopping users and ending the conversations the run opened...",
    2: "interrupted again: cutting clean-up short; writing the reports (Ctrl-C again to stop at once)",
}


def wait_for_locust(
    process: subprocess.Popen[Any],
    limit: float,
    say: Callable[[str], None],
    on_interrupt: Callable[[], None] | None = None,
) -> bool:
    """Wait for locust (at most ``limit`` s unless interrupted); return whether the user interrupted it.

    ``on_interrupt`` runs once, at the first Ctrl-C or SIGTERM, before locust is signalled (so that
    its reports can say the run was interrupted).
    """
    presses = _Presses()
    step, seen, interrupted = 0, 0, False
    deadline = time.monotonic() + limit
    try:
        with presses.counting():
            while process.poll() is None:
                if presses.count > seen:
                    if not interrupted and on_interrupt is not None:
                        on_interrupt()
                    seen, step, interrupted = presses.count, step + 1, True
                    if step in _SAY:
                        say(_SAY[step])
                elif time.monotonic() > deadline:
                    step += 1  # not stopped in time: as a (further) Ctrl-C
                    say(f"locust did not stop in time; {'stopping it' if step == 1 else 'cutting its clean-up short'}")
                else:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=_POLL)
                    continue
                if step >= 3:
                    break
                if step == 1:
                    _signal(process, signal.SIGINT)
                    deadline = time.monotonic() + 120  # settling (--request-timeout) and clean-up fit in it
                else:
                    _signal(process, HURRY_SIGNAL, group=True)
                    deadline = time.monotonic() + 60
    finally:
        if process.poll() is None:
            stop(process, signal.SIGTERM, 10)
        # Workers that outlived their master (it failed to start, or was killed) would keep
        # retrying it for minutes: they are in its session, and only they are.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
    return interrupted


def _signal(process: subprocess.Popen[Any], sig: signal.Signals, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, sig)  # its own session: only locust's processes are in it
        else:
            process.send_signal(sig)
