"""``contract-report.html``: the contract run as a page a person reads, beside ``contract-report.json``.

Built from the JSON report (``report.build_report``), which is redacted already: the page shows
nothing the JSON report does not. First the verdict, the exit code and the command line; then the
run's figures; the checks by operation (passed, failed, skipped with the reason); each broken
check once with its first failing answer in full (the rule, expected and got, the JSON path and
the two values, the request and the response shortened around the difference, the ``curl``
line) and how many more answers broke it; errors, harness errors with their tracebacks, what
could not run, and the conversations left open. ``htmlreport`` renders it (``contract.html.j2``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness.contract.checks import ALL_OPERATIONS, UNROUTED
from canvas_ai_harness.htmlreport import command_line, write_html

__all__ = ["HTML_NAME", "html_context", "invocation", "write_html_report"]

HTML_NAME: Final = "contract-report.html"


def invocation(redact: Callable[[str], str], argv: Sequence[str] | None = None) -> str:
    """The command line that started this process, redacted part by part."""
    args = list(sys.argv if argv is None else argv)
    if not args:
        return ""
    return command_line([Path(args[0]).name, *args[1:]], redact)


def _operations(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each operation with every check that applies to it, and that check's status on it."""
    extra = sorted({op for row in checks for op in row["evaluations"] if op not in ALL_OPERATIONS})
    out = []
    for op in [*ALL_OPERATIONS, *extra]:
        rows = []
        for row in checks:
            if op not in row["operations"] and op not in row["evaluations"]:
                continue
            counts = row["evaluations"].get(op, {"passed": 0, "failed": 0})
            if counts["failed"]:
                status, reason = "failed", ""
            elif counts["passed"]:
                status, reason = "passed", ""
            elif row["status"] in ("skipped", "not exercised"):
                status, reason = row["status"], row["reason"]
            else:
                status, reason = "not exercised", "no answer to this operation was one it applies to"
            rows.append({**row, "op_status": status, "op_reason": reason, **counts})
        if rows:
            tally = {
                s: sum(r["op_status"] == s for r in rows) for s in ("passed", "failed", "skipped", "not exercised")
            }
            out.append({"name": op, "rows": rows, "tally": tally})
    return out


def _broken(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each broken check once: its first failing answer in full, and the others by their request line."""
    by_check: dict[str, dict[str, Any]] = {}
    for failure in failures:
        for finding in failure["findings"]:
            entry = by_check.get(finding["check"])
            if entry is None:
                by_check[finding["check"]] = {"finding": finding, "failure": failure, "more": [], "operations": set()}
            else:
                entry["more"].append(failure)
            by_check[finding["check"]]["operations"].add(failure["operation"] or UNROUTED)
    return [{**entry, "name": name, "operations": sorted(entry["operations"])} for name, entry in by_check.items()]


def html_context(report: dict[str, Any], command: str) -> dict[str, Any]:
    """What ``contract.html.j2`` needs, from the (redacted) JSON report."""
    return {
        "title": "Contract",
        "verdict": report["outcome"].upper(),
        "exit_code": report["exit_code"],
        "command": command,
        "subtitle": report["verdict"],
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "links": [("JSON report", "contract-report.json"), ("text summary", "contract-summary.txt")],
        "report": report,
        "operations": _operations(report["checks"]),
        "broken": _broken(report["failures"]),
        "skipped": [c for c in report["checks"] if c["status"] in ("skipped", "not exercised")],
        "incomplete": [t for t in report["tests"] if t["incomplete"]],
    }


def write_html_report(report: dict[str, Any], directory: Path, command: str) -> Path:
    """Write ``contract-report.html`` into ``directory`` from the JSON report; returns its path."""
    return write_html(directory / HTML_NAME, "contract.html.j2", html_context(report, command))
