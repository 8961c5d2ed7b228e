"""When the harness itself fails: the traceback goes to a file, the terminal gets one line.

An exception the harness did not raise on purpose is a bug of the harness, never a verdict on
the target (exit 3, ``exits.EXIT_HARNESS``). ``write_traceback`` writes it, tokens redacted, to
the run's report directory or else to a fresh temporary file, and returns the path for the one
line the user sees. ``remember_secrets`` is how the tokens of every target a command talks to
reach it (the preflight registers them), since a crash can happen anywhere.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from canvas_ai_harness.redact import Redactor

__all__ = ["TRACEBACK_NAME", "format_traceback", "remember_secrets", "write_traceback"]

TRACEBACK_NAME = "harness-error.txt"
_SECRETS = Redactor()


def remember_secrets(secrets: Iterable[str | None]) -> None:
    """Redact these from every traceback written from now on (in this process)."""
    for secret in secrets:
        _SECRETS.add(secret)


def format_traceback(exc: BaseException) -> str:
    """The exception's traceback as text, tokens redacted."""
    return _SECRETS("".join(traceback.format_exception(exc)))


def write_traceback(exc: BaseException, directory: Path | None = None, *, context: str = "") -> Path:
    """Write ``exc``'s traceback (redacted) into ``directory`` (else a temporary file); return the path."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"canvas-ai-harness: the harness failed at {stamp}{f' ({context})' if context else ''}\n"
    text += "This is a bug of the harness, not a verdict on the target. Please report it with this file.\n\n"
    text += format_traceback(exc)
    if directory is not None:
        try:
            Path(directory).mkdir(parents=True, exist_ok=True)
            path = Path(directory) / TRACEBACK_NAME
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            pass  # fall back to a temporary file: the traceback must land somewhere
    fd, name = tempfile.mkstemp(prefix="canvas-ai-harness-error-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(name)
