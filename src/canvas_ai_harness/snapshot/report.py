"""The diff's reports: text for the terminal, Markdown for a CI job summary or a merge request, JSON, HTML.

``render_text`` and ``render_markdown`` list, per route and scenario, the breaking, additive and
allowed differences, the profile change with its rows, what was not compared, and the verdict.
``write_reports(comparison, report_dir)`` writes ``diff-report.md``, ``diff-report.json`` and
``diff-report.html`` (``page.py``: the same for a person, self-contained) there, and appends the
Markdown to ``$GITHUB_STEP_SUMMARY`` when that is set. Every string is redacted before it is
written (``redact_data``); an interrupted diff writes all three too (``write_interrupted``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, verdict_word
from canvas_ai_harness.htmlreport import write_html
from canvas_ai_harness.redact import Redactor, redact_data
from canvas_ai_harness.snapshot.diff import NOT_EXERCISED, Comparison, Difference
from canvas_ai_harness.snapshot.page import TEMPLATE, interrupted_context, page_context

__all__ = [
    "SUMMARY_ENV",
    "exit_code",
    "render_markdown",
    "render_text",
    "to_json",
    "write_interrupted",
    "write_reports",
]

SUMMARY_ENV: Final = "GITHUB_STEP_SUMMARY"


def exit_code(comparison: Comparison) -> int:
    """0: no difference, or only additive or allowed ones; 1: a breaking difference, or steps unobserved."""
    return EXIT_FAILED if comparison.breaks or comparison.unobserved else EXIT_OK


def _side(document: dict[str, Any]) -> str:
    target = document.get("target", {})
    return f"profile {document.get('profile') or 'unknown'}, host {target.get('host', '?')}"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _line(d: Difference) -> str:
    where = f" {d.path}" if d.path else ""
    said = f"{d.what}{where}: {_show(d.before)} -> {_show(d.after)}"
    return f"{said}  [{d.id}]" + (f"  allowed: {d.allowed}" if d.allowed else "")


def _by_step(differences: Iterable[Difference]) -> dict[str, list[Difference]]:
    grouped: dict[str, list[Difference]] = {}
    for d in differences:
        grouped.setdefault(d.step, []).append(d)
    return grouped


def _alike(found: list[Difference]) -> dict[str, list[str]]:
    """The same difference seen in several steps, once: ``said -> [steps]``."""
    grouped: dict[str, list[str]] = {}
    for d in found:
        where = f" {d.path}" if d.path else ""
        grouped.setdefault(f"{d.what}{where}: {_show(d.before)} -> {_show(d.after)}", []).append(d.step)
    return grouped


def verdict(comparison: Comparison) -> str:
    code = exit_code(comparison)
    counts = (
        f"{comparison.breaks} breaking, {len(comparison.additive)} additive, {len(comparison.allowed)} allowed"
        f"{', profile change allowed' if comparison.profile_change and comparison.profile_change.allowed else ''}"
    )
    if comparison.unobserved:
        counts += (
            f"; INCOMPLETE: {len(comparison.unobserved)} step(s) not observed on one side, and what followed "
            "them may differ because of it"
        )
    return f"{verdict_word(code)}: {counts} (exit {code})"


def render_text(comparison: Comparison, before: str, after: str) -> str:
    c = comparison
    lines = [f"diff: before {before} ({_side(c.before)})", f"      after  {after} ({_side(c.after)})"]
    change = c.profile_change
    if change is not None:
        state = f"allowed: {change.allowed}" if change.allowed else "breaking"
        lines += ["", f"PROFILE CHANGE {change.before} -> {change.after} ({state}) [profile]"]
        for row, found in change.rows.items():
            if found:
                lines.append(f"  {row}: {len(found)} difference(s)")
                for said, steps in _alike(found).items():
                    lines.append(f"    {said}  in {', '.join(steps)}")
            else:
                why = "not exercised by the snapshot script" if row in NOT_EXERCISED else "NOT SEEN"
                lines.append(f"  {row}: {why}")
    for title, group in (("BREAKING", c.breaking), ("ADDITIVE", c.additive), ("ALLOWED", c.allowed)):
        if group:
            lines += ["", f"{title} ({len(group)})"]
            for step, found in _by_step(group).items():
                lines.append(f"  {step}")
                lines += [f"    {_line(d)}" for d in found]
    if c.not_compared:
        lines += ["", f"NOT COMPARED ({len(c.not_compared)})"] + [f"  {step}: {why}" for step, why in c.not_compared]
    if c.unused_allowances:
        lines += ["", "allow entries that matched nothing: " + ", ".join(c.unused_allowances)]
    if not c.differences and change is None:
        lines += ["", "no difference"]
    lines += ["", verdict(c)]
    return "\n".join(lines)


def _md(text: Any) -> str:
    return _show(text).replace("|", "\\|").replace("\n", " ")


def _table(group: list[Difference]) -> list[str]:
    rows = ["| route/scenario | difference | before | after | id |", "|---|---|---|---|---|"]
    for d in group:
        what = f"{d.what} `{d.path}`" if d.path else d.what
        rows.append(f"| `{d.step}` | {_md(what)} | {_md(d.before)} | {_md(d.after)} | `{d.id}` |")
    return rows


def render_markdown(comparison: Comparison, before: str, after: str) -> str:
    c = comparison
    lines = [
        "## Canvas AI Conversations: snapshot diff",
        "",
        f"**{verdict(c)}**",
        "",
        f"- before: `{before}` ({_side(c.before)})",
        f"- after: `{after}` ({_side(c.after)})",
    ]
    change = c.profile_change
    if change is not None:
        state = f"allowed: {_md(change.allowed)}" if change.allowed else "breaking"
        lines += ["", f"### Profile change `{change.before}` → `{change.after}` ({state})", ""]
        for row, found in change.rows.items():
            seen = (
                f"{len(found)} difference(s)"
                if found
                else ("not exercised by the snapshot script" if row in NOT_EXERCISED else "**not seen**")
            )
            lines.append(f"- {row}: {seen}")
            lines += [f"  - {_md(said)} (in {len(steps)} step(s))" for said, steps in _alike(found).items()]
    for title, group in (("Breaking", c.breaking), ("Additive", c.additive), ("Allowed", c.allowed)):
        if group:
            lines += ["", f"### {title} ({len(group)})", "", *_table(group)]
            if title == "Allowed":
                lines += ["", *[f"- `{d.id}`: {_md(d.allowed)}" for d in group]]
    if c.not_compared:
        lines += ["", f"### Not compared ({len(c.not_compared)})", ""]
        lines += [f"- `{step}`: {_md(why)}" for step, why in c.not_compared]
    if not c.differences and change is None:
        lines += ["", "No difference."]
    return "\n".join(lines) + "\n"


def to_json(comparison: Comparison, before: str, after: str) -> dict[str, Any]:
    c = comparison
    change = c.profile_change
    return {
        "before": {"source": before, "profile": c.before.get("profile"), "target": c.before.get("target")},
        "after": {"source": after, "profile": c.after.get("profile"), "target": c.after.get("target")},
        "exit_code": exit_code(c),
        "breaking": c.breaks,
        "unobserved": c.unobserved,
        "profile_change": None
        if change is None
        else {
            "before": change.before,
            "after": change.after,
            "allowed": change.allowed,
            "rows": {row: [d.id for d in found] for row, found in change.rows.items()},
            "not_exercised": [r for r in change.not_seen() if r in NOT_EXERCISED],
        },
        "differences": [d.as_dict() for d in c.differences],
        "not_compared": [{"step": s, "why": w} for s, w in c.not_compared],
        "unused_allowances": c.unused_allowances,
    }


def write_interrupted(
    before: str,
    after: str,
    report_dir: Path | None,
    env: dict[str, str] | None = None,
    command: str = "canvas-ai-harness diff",
) -> None:
    """The reports of a diff interrupted while it took a live snapshot: no comparison, exit 130."""
    line = f"INTERRUPTED (exit {EXIT_INTERRUPTED}): stopped while taking a snapshot; {before} and {after} not compared"
    markdown = f"## Canvas AI Conversations: snapshot diff\n\n**{line}**\n"
    data = {
        "before": {"source": before},
        "after": {"source": after},
        "exit_code": EXIT_INTERRUPTED,
        "interrupted": True,
    }
    redactor = Redactor()  # the sides' tokens are unknown here: the patterns of a token still apply
    html = redact_data(interrupted_context(before, after, command), redactor)
    _write(markdown, data, html, report_dir, dict(os.environ) if env is None else env)


def _write(
    markdown: str, data: dict[str, Any], html: dict[str, Any], report_dir: Path | None, env: dict[str, str]
) -> list[Path]:
    written: list[Path] = []
    try:
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            (report_dir / "diff-report.md").write_text(markdown, "utf-8")
            (report_dir / "diff-report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
            written += [report_dir / "diff-report.md", report_dir / "diff-report.json"]
            written.append(write_html(report_dir / "diff-report.html", TEMPLATE, html))
        summary = env.get(SUMMARY_ENV)
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown)
            written.append(Path(summary))
    except OSError as exc:
        raise ConfigError(f"cannot write the diff report ({exc}); check --report-dir and ${SUMMARY_ENV}") from exc
    return written


def write_reports(
    comparison: Comparison,
    before: str,
    after: str,
    report_dir: Path | None,
    redactor: Callable[[str], str],
    env: dict[str, str] | None = None,
    command: str = "canvas-ai-harness diff",
) -> list[Path]:
    """Write the Markdown, JSON and HTML reports; append the Markdown to ``$GITHUB_STEP_SUMMARY`` if set.

    ``command``: the command line, already redacted (``htmlreport.command_line``), for the HTML's header.
    """
    env = dict(os.environ) if env is None else env
    markdown = redactor(render_markdown(comparison, before, after))
    data = redact_data(to_json(comparison, before, after), redactor)
    html = redact_data(page_context(comparison, before, after, command, exit_code(comparison)), redactor)
    return _write(markdown, data, html, report_dir, env)
