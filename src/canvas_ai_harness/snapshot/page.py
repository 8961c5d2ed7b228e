"""The diff's HTML report (``diff-report.html``): what ``templates/diff.html.j2`` shows.

``page_context(comparison, before, after, command)`` turns a ``Comparison`` into plain data: the
verdict, the two sides (which Canvas each came from), the breaking and additive differences grouped
by step, the allowed ones apart with their reasons, the profile change row by row, and what was not
compared. ``interrupted_context`` is the page of a diff stopped while it took a live snapshot.
Values are shown as JSON text, shortened around where the two sides first differ (``around``),
never cut before it. The caller redacts the context before it renders (``redact_data``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from canvas_ai_harness.exits import EXIT_INTERRUPTED, verdict_word
from canvas_ai_harness.htmlreport import around
from canvas_ai_harness.snapshot.diff import NOT_EXERCISED, Comparison, Difference

__all__ = ["TEMPLATE", "interrupted_context", "page_context", "shorten_pair"]

TEMPLATE: Final = "diff.html.j2"
TITLE: Final = "Snapshot diff"
WIDTH: Final = 300  # characters of a value shown; the full values are in diff-report.json
_LINKS: Final = (("Markdown", "diff-report.md"), ("JSON", "diff-report.json"))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def _needle(text: str, at: int, longest: int = 200) -> str | None:
    """The shortest piece of ``text`` starting at ``at`` whose first occurrence is there (bounded)."""
    for end in range(at + 1, min(len(text), at + longest) + 1):
        piece = text[at:end]
        if text.find(piece) == at:
            return piece
    return None


def _shorten(text: str, at: int, width: int) -> str:
    if len(text) <= width:
        return text
    needle = _needle(text, min(at, len(text) - 1))
    if needle is None:  # what differs repeats something earlier: keep from the difference on
        return "…" + around(text[at:], None, width)
    return around(text, needle, width)


def shorten_pair(before: Any, after: Any, width: int = WIDTH) -> tuple[str, str]:
    """Both values as text, each shortened around the first character where they differ."""
    one, two = _text(before), _text(after)
    at = next((i for i, (x, y) in enumerate(zip(one, two, strict=False)) if x != y), min(len(one), len(two)))
    return _shorten(one, at, width), _shorten(two, at, width)


def _name(label: str) -> str:
    """A side's file name, for a column's header (the sides' table gives the whole source)."""
    return label.replace("\\", "/").rsplit("/", 1)[-1]


def _side(role: str, label: str, document: dict[str, Any]) -> dict[str, Any]:
    target = document.get("target") or {}
    return {
        "role": role,
        "source": label,
        "name": _name(label),
        "profile": document.get("profile") or "unknown",
        "host": target.get("host", "?"),
        "declared_profile": target.get("declared_profile") or "",
        "harness": document.get("harness", ""),
    }


def _difference(d: Difference) -> dict[str, Any]:
    before, after = shorten_pair(d.before, d.after)
    return {"id": d.id, "what": d.what, "aspect": d.aspect, "path": d.path, "before": before, "after": after}


def _by_step(differences: Iterable[Difference]) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for d in differences:
        grouped.setdefault(d.step, []).append(_difference(d))
    return [{"step": step, "differences": found} for step, found in grouped.items()]


def _profile(comparison: Comparison) -> dict[str, Any] | None:
    change = comparison.profile_change
    if change is None:
        return None
    rows = []
    for row, found in change.rows.items():
        if found:
            state = f"{len(found)} difference(s)"
        else:
            state = "not exercised by the snapshot script" if row in NOT_EXERCISED else "NOT SEEN"
        rows.append({"row": row, "state": state, "seen": bool(found), "differences": [_difference(d) for d in found]})
    return {"before": change.before, "after": change.after, "allowed": change.allowed or "", "rows": rows}


def page_context(comparison: Comparison, before: str, after: str, command: str, exit_code: int) -> dict[str, Any]:
    """The template's context for a finished comparison (not yet redacted)."""
    c = comparison
    counts = f"{c.breaks} breaking, {len(c.additive)} additive, {len(c.allowed)} allowed"
    if c.unobserved:
        counts += f"; INCOMPLETE: {len(c.unobserved)} step(s) not observed on one side"
    return {
        "title": TITLE,
        "verdict": verdict_word(exit_code),
        "exit_code": exit_code,
        "command": command,
        "subtitle": counts,
        "links": _LINKS,
        "interrupted": "",
        "sides": [_side("before", before, c.before), _side("after", after, c.after)],
        "profile_change": _profile(c),
        "groups": [
            {"title": "Breaking", "kind": "breaking", "count": len(c.breaking), "steps": _by_step(c.breaking)},
            {"title": "Additive", "kind": "additive", "count": len(c.additive), "steps": _by_step(c.additive)},
        ],
        "allowed": [{**_difference(d), "step": d.step, "reason": d.allowed} for d in c.allowed],
        "not_compared": [{"step": step, "why": why} for step, why in c.not_compared],
        "unused_allowances": list(c.unused_allowances),
        "no_difference": not c.differences and c.profile_change is None and not c.not_compared,
    }


def interrupted_context(before: str, after: str, command: str) -> dict[str, Any]:
    """The page of a diff stopped while it took a live snapshot: nothing compared, exit 130."""
    return {
        "title": TITLE,
        "verdict": verdict_word(EXIT_INTERRUPTED),
        "exit_code": EXIT_INTERRUPTED,
        "command": command,
        "subtitle": f"stopped while taking a snapshot; {before} and {after} not compared",
        "links": _LINKS,
        "interrupted": "stopped while taking a snapshot: the snapshots were not compared. "
        "Every conversation the run created was ended. Run the diff again.",
        "sides": [
            _side(role, label, {}) | {"profile": "", "host": ""}
            for role, label in (("before", before), ("after", after))
        ],
        "profile_change": None,
        "groups": [],
        "allowed": [],
        "not_compared": [],
        "unused_allowances": [],
        "no_difference": False,
    }
