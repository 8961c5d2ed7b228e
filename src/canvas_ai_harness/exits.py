"""The exit codes of every command, written once (README.md, "Exit codes").

    0    pass
    1    the target broke the contract or missed a threshold (or a check could not run)
    2    a usage or configuration error, a broken setup (the preflight), or the target is unreachable
    3    the harness itself failed (a bug): never the target's fault; the traceback is in the report
    130  interrupted (Ctrl-C or SIGTERM), after the reports are written

The CLI, ``check``, the contract runner and report, the load run and the locust processes all
use these names; a test keeps the numbers out of every other module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["EXIT_FAILED", "EXIT_HARNESS", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "verdict_word", "worst"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_HARNESS: Final = 3
EXIT_INTERRUPTED: Final = 130

_SEVERITY: Final = (EXIT_INTERRUPTED, EXIT_HARNESS, EXIT_USAGE, EXIT_FAILED, EXIT_OK)  # worst first
_WORDS: Final = {
    EXIT_OK: "PASS",
    EXIT_FAILED: "FAIL",
    EXIT_USAGE: "ERROR",
    EXIT_HARNESS: "HARNESS ERROR",
    EXIT_INTERRUPTED: "INTERRUPTED",
}


def worst(codes: Iterable[int]) -> int:
    """The most severe of ``codes``: interrupted, then a harness error, then usage, then failed, then pass."""
    seen = set(codes)
    return next((code for code in _SEVERITY if code in seen), EXIT_OK)


def verdict_word(code: int) -> str:
    """``PASS``, ``FAIL``, ``ERROR``, ``HARNESS ERROR`` or ``INTERRUPTED``; ``exit N`` for a code of no one's."""
    return _WORDS.get(code, f"exit {code}")
