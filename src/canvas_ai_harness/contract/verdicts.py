"""The findings of one exchange, and how often each check passed and failed over a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.contract.checks import CHECKS, Finding
from canvas_ai_harness.contract.client import Exchange
from canvas_ai_harness.contract.details import ABSENT, Detail, difference, status_detail
from canvas_ai_harness.contract.reading import snippet

__all__ = ["Results", "Verdicts"]


@dataclass(slots=True)
class Results:
    """How often each check passed and failed, per operation."""

    evaluations: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    chosen: frozenset[str] | None = None  # --only/--skip: the checks the run applies; None: all

    def applies(self, check: str) -> bool:
        return self.chosen is None or check in self.chosen

    def record(self, check: str, operation: str, ok: bool) -> None:
        if not self.applies(check):
            return  # deselected: neither a pass nor a failure
        counts = self.evaluations.setdefault((check, operation), [0, 0])
        counts[0 if ok else 1] += 1


class Verdicts:
    """The findings of one exchange; every judgement is also counted in ``Results``."""

    def __init__(self, results: Results, operation: str) -> None:
        self.results, self.operation = results, operation
        self.findings: list[Finding] = []

    def judge(self, name: str, ok: bool, got: str = "", expected: str = "", detail: Detail | None = None) -> bool:
        """Count ``name`` as passed or failed; a failure keeps what was got, expected, and where."""
        if not self.results.applies(name):
            return ok  # deselected (--only/--skip): judged by nobody
        self.results.record(name, self.operation, ok)
        if not ok:
            self.findings.append(Finding(CHECKS[name], got, expected, detail))
        return ok

    def status(self, name: str, ex: Exchange, ok: bool, expected: str = "", wanted: str = "") -> bool:
        """Judge ``name`` on the status code: ``wanted`` says in a few words which statuses the rule wants."""
        detail = status_detail(ex.status, wanted or expected or CHECKS[name].rule)
        return self.judge(name, ok, f"{ex.status} {snippet(ex)}", expected, detail)

    def expect(
        self, name: str, ex: Exchange, statuses: tuple[int, ...], body: Any, www: bool = False, note: str = ""
    ) -> bool:
        """Judge ``name``: the answer is one of ``statuses`` with exactly ``body``."""
        www_ok = not www or ex.headers.get("www-authenticate") == bodies.WWW_AUTHENTICATE
        ok = ex.status in statuses and ex.json() == body and www_ok
        got = f"{ex.status} {snippet(ex)}" + ("" if www_ok else " (no WWW-Authenticate header)")
        header = f" with WWW-Authenticate: {bodies.WWW_AUTHENTICATE}" if www else ""
        expected = f"{' or '.join(map(str, statuses))} {json.dumps(body)}{header}{note}"
        return self.judge(name, ok, got, expected, None if ok else _expect_detail(ex, statuses, body, www_ok))


def _expect_detail(ex: Exchange, statuses: tuple[int, ...], body: Any, www_ok: bool) -> Detail:
    """Where an answer departs from ``statuses`` and ``body``: the status, else the body, else the header."""
    if ex.status not in statuses:
        return status_detail(ex.status, statuses)
    got = ex.json()
    if got is None and ex.body:
        return Detail("$", body, ex.body.decode("utf-8", "replace"))
    found = difference(body, got)
    if found is not None:
        return found
    return Detail("headers.WWW-Authenticate", bodies.WWW_AUTHENTICATE, ex.headers.get("www-authenticate", ABSENT))
