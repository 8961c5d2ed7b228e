"""Signals that stop a run: SIGTERM as Ctrl-C, and a SIGINT that a background job ignores.

Every command stops the same way on Ctrl-C and on SIGTERM (a cancelled CI job): the run stops,
its conversations are ended and its reports written, then exit 130. ``sigterm_as_interrupt``
turns SIGTERM into ``KeyboardInterrupt`` for the length of a run.

A process started from a background job or a CI runner inherits an *ignored* SIGINT, and so do
its children. The load suite stops locust (and locust stops its workers) with SIGINT, so every
locust process calls ``take_back_sigint`` first: otherwise an interrupted run would go on to its
full run time.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["sigterm_as_interrupt", "take_back_sigint"]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def take_back_sigint() -> bool:
    """Make an inherited, ignored SIGINT raise ``KeyboardInterrupt`` again; return whether it was ignored."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True
