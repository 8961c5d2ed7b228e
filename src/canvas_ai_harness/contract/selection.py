"""``--only RULE...`` / ``--skip RULE...``: which named checks a contract run applies.

A ``Selection`` is built from the names the user gave (repeated options, or comma- or
space-separated lists, as an environment variable gives them) and validated against
``checks.CHECKS``: an unknown name is a ``ConfigError`` (exit 2) naming the closest valid ones.
A deselected check is never judged, so it neither passes nor fails: reports list it as skipped
by request. A scenario whose checks are all deselected does not run (it would only cost
requests and AI calls); the property-based explorations run when a selected check is one no
scenario is about.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from canvas_ai_harness.contract.checks import CHECKS
from canvas_ai_harness.errors import ConfigError

__all__ = ["Selection", "split_names"]


def split_names(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """``("a,b", "c")`` or ``"a b,c"`` as ``("a", "b", "c")``, in order, without repeats."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        for name in value.replace(",", " ").split():
            if name not in names:
                names.append(name)
    return tuple(names)


def _known(name: str, flag: str) -> str:
    if name in CHECKS:
        return name
    close = difflib.get_close_matches(name, list(CHECKS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"{flag} {name!r} is not a check of the contract suite{hint} "
        "(the names: README.md, 'Choosing checks', or contract-report.json)"
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """The checks a run applies: every check, or the ``--only`` ones, less the ``--skip`` ones."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "only", tuple(_known(n, "--only") for n in split_names(self.only)))
        object.__setattr__(self, "skip", tuple(_known(n, "--skip") for n in split_names(self.skip)))
        if not self.chosen:
            raise ConfigError("--only and --skip leave no check to run; drop a --skip or add an --only")

    @property
    def narrowed(self) -> bool:
        return bool(self.only or self.skip)

    @property
    def chosen(self) -> frozenset[str]:
        """The names of the checks the run applies."""
        base = set(self.only) if self.only else set(CHECKS)
        return frozenset(base - set(self.skip))

    def applies(self, name: str) -> bool:
        return name in self.chosen

    def any_applies(self, names: Iterable[str]) -> bool:
        return any(self.applies(name) for name in names)

    def why_not(self, name: str) -> str:
        """Why ``name`` does not run (for reports); empty when it does."""
        if name in self.skip:
            return "skipped by request (--skip)"
        if self.only and name not in self.only:
            return "skipped by request (not in --only)"
        return ""
