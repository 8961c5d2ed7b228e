"""Where the contract suite's engines keep their caches: never in the user's working directory.

Hypothesis writes ``.hypothesis/`` (its constants cache; the example database is off) into the
directory a run starts in, and schemathesis may keep ``.schemathesis/`` there. A contract run
points both at a user cache directory instead: ``$XDG_CACHE_HOME/canvas-ai-harness`` (else
``~/.cache/canvas-ai-harness``). ``engine_caches()`` sets Hypothesis's home for the length of a
run and puts the previous one back, so a process that runs the suite (the harness's own tests)
keeps its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

__all__ = ["APP_NAME", "cache_dir", "engine_caches", "schemathesis_cache"]

APP_NAME: Final = "canvas-ai-harness"


def cache_dir() -> Path:
    """The harness's user cache directory (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / APP_NAME


def schemathesis_cache() -> str:
    """The directory schemathesis's own cache goes to (its ``cache.directory`` setting)."""
    return str(cache_dir() / "schemathesis")


@contextmanager
def engine_caches() -> Iterator[Path]:
    """Hypothesis's storage under ``cache_dir()`` while the block runs; the previous home after it."""
    from hypothesis import configuration

    found: Any
    try:
        found = configuration.storage_directory(intent_to_write=False)
    except TypeError:  # older Hypothesis: no intent_to_write, and the path itself comes back
        found = configuration.storage_directory()
    previous = Path(getattr(found, "home_directory", found))
    home = cache_dir() / "hypothesis"
    configuration.set_hypothesis_home_dir(home)
    try:
        yield home
    finally:
        configuration.set_hypothesis_home_dir(previous)
