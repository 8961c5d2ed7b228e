"""The two commands' library calls: ``run_snapshot`` (take and write one) and ``run_diff`` (compare two).

``run_diff(before, after)`` reads each side (a snapshot file, or a target file snapshotted now),
compares them, applies the allow file, writes the reports and returns a ``DiffResult`` whose
``exit_code`` is 0 (no difference, or only additive or allowed ones) or 1 (a breaking difference).
A setup error (an unreadable file, another format or format version, a bad allow file) is a
``ConfigError``: exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.htmlreport import command_line
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.snapshot.allow import apply_allowances, load_allow_file
from canvas_ai_harness.snapshot.diff import Comparison, compare
from canvas_ai_harness.snapshot.report import exit_code, render_text, write_interrupted, write_reports
from canvas_ai_harness.snapshot.take import Side, Snapshot, read_side, take_snapshot, write_snapshot

__all__ = ["DiffResult", "run_diff", "run_snapshot"]

Echo = Callable[[str], None]


def run_snapshot(
    target: Path | None,
    out: Path,
    seed: int | None = None,
    *,
    max_creates: int | None = None,
    echo: Echo | None = None,
) -> Snapshot:
    """Take a snapshot of the target (the embedded mock without one) and write it to ``out``."""
    _writable_dir(out.parent, f"--out {out}")  # before any request: a run's work is not lost to a bad path
    snapshot = take_snapshot(None if target is None else str(target), seed, max_creates=max_creates, echo=echo)
    write_snapshot(snapshot, out)
    if echo is not None:
        echo(f"{snapshot.summary()} -> {out}")
    return snapshot


@dataclass(slots=True)
class DiffResult:
    comparison: Comparison
    text: str
    reports: list[Path] = field(default_factory=list)
    sides: tuple[Side, ...] = ()

    @property
    def exit_code(self) -> int:
        return exit_code(self.comparison)


def run_diff(
    before: Path,
    after: Path,
    *,
    allow: Path | None = None,
    report_dir: Path | None = None,
    echo: Echo | None = None,
    argv: Sequence[str] = ("canvas-ai-harness", "diff"),
) -> DiffResult:
    """Compare two snapshots (taking a live one for a target file) and write the reports.

    ``argv``: the command as typed, shown (redacted) at the top of ``diff-report.html``.
    """
    allowances = load_allow_file(allow) if allow is not None else []  # a bad allow file fails before any request
    if report_dir is not None:
        _writable_dir(report_dir, f"--report-dir {report_dir}")
    try:
        one = read_side(before, echo=echo)
        two = read_side(after, echo=echo)
    except KeyboardInterrupt:
        # The conversations are ended already (the session's close); the reports still say what happened.
        write_interrupted(str(before), str(after), report_dir, command=command_line(argv, Redactor()))
        raise
    comparison = compare(one.document, two.document)
    apply_allowances(comparison, allowances)
    redactor = Redactor(one.secrets + two.secrets)
    text = redactor(render_text(comparison, one.label, two.label))
    command = command_line(argv, redactor)
    reports = write_reports(comparison, one.label, two.label, report_dir, redactor, command=command)
    return DiffResult(comparison, text, reports, (one, two))


def _writable_dir(directory: Path, what: str) -> None:
    """Create ``directory`` if need be; a ``ConfigError`` naming ``what`` when it cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot create {directory} ({exc.strerror}); choose another path") from exc
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"{what}: {directory} is not writable; choose another path")
