"""What a contract run reports: a summary a person reads at a glance, a JSON report, and an HTML page.

Checks are grouped by operation with their passes, failures and skips; each failure says which
check, what Canvas was expected to do (the rule), what it did, and a ``curl`` line reproducing it
with the token redacted; each skip names its reason (usually the missing target-file field).
Everything written passes through the run's ``Redactor``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_ai_harness import __version__
from canvas_ai_harness.contract.checks import ALL_OPERATIONS, CHECKS, UNROUTED, where
from canvas_ai_harness.contract.htmlpage import HTML_NAME, invocation, write_html_report
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from canvas_ai_harness.redact import redact_data

if TYPE_CHECKING:
    from canvas_ai_harness.contract.session import ContractSession, Outcome

__all__ = ["HTML_NAME", "REPORT_NAME", "SUMMARY_NAME", "build_report", "exit_code", "render_summary", "write_reports"]

REPORT_NAME = "contract-report.json"
SUMMARY_NAME = "contract-summary.txt"


def exit_code(session: ContractSession) -> int:
    if session.interrupted:
        return EXIT_INTERRUPTED
    if session.unreachable or session.accounts_in_use:
        return EXIT_USAGE
    if session.harness_errors:
        return EXIT_HARNESS
    return EXIT_FAILED if session.failed or session.incomplete else EXIT_OK


def verdict(session: ContractSession) -> str:
    if session.interrupted:
        return "INTERRUPTED: the run stopped early; what ran is reported"
    if session.unreachable:
        return f"UNREACHABLE: {session.unreachable}"
    if session.accounts_in_use:
        return f"SETUP PROBLEM: {session.accounts_in_use}"
    if session.harness_errors:
        where = session.traceback_path or REPORT_NAME
        count = len(session.harness_errors)
        return f"HARNESS ERROR: the harness itself failed in {count} tests, not the target; tracebacks in {where}"
    if session.failed:
        return "FAIL: the target broke the contract"
    if session.incomplete:
        return "INCOMPLETE: some checks could not run (see Skipped); raise the limits named there"
    return "PASS: the target keeps the contract"


def _skip_reasons(session: ContractSession) -> dict[str, str]:
    """Each check a skipped test was about, with why it was skipped."""
    reasons: dict[str, str] = {}
    for outcome in session.outcomes:
        if outcome.outcome == "skipped":
            for name in outcome.checks:
                reasons.setdefault(name, outcome.reason)
    for check in CHECKS.values():
        for need in check.needs:
            owner, _, attr = need.rpartition(".")
            if getattr(session.target.tokens if owner == "tokens" else session.target, attr) is None:
                reasons.setdefault(check.name, f"the target file has no {need}")
    return reasons


def check_table(session: ContractSession) -> list[dict[str, Any]]:
    """Every check with its per-operation counts and its status: passed, failed, skipped or not exercised."""
    failed_names = {f["check"] for o in session.outcomes if o.violation for f in o.violation["findings"]}
    skips = _skip_reasons(session)
    rows = []
    selection = session.settings.selection
    for check in CHECKS.values():
        by_operation = {
            op: {"passed": counts[0], "failed": counts[1]}
            for (name, op), counts in sorted(session.results.evaluations.items())
            if name == check.name
        }
        failed = check.name in failed_names or any(c["failed"] for c in by_operation.values())
        passed = any(c["passed"] for c in by_operation.values())
        if not selection.applies(check.name):
            status, reason = "skipped", selection.why_not(check.name)
        elif failed:
            status, reason = "failed", ""
        elif passed:
            status, reason = "passed", ""
        elif check.name in skips:
            status, reason = "skipped", skips[check.name]
        else:
            status, reason = "not exercised", "no answer of this run was one it applies to"
        rows.append(
            {
                "name": check.name,
                "rule": check.rule,
                "operations": list(check.operations),
                "status": status,
                "reason": reason,
                "evaluations": by_operation,
            }
        )
    return rows


def build_report(session: ContractSession) -> dict[str, Any]:
    """The JSON report: the run, every check, every test, every failure, and the cleanup."""
    client, budget, cleanup = session.client, session.budget, session.cleanup
    report = {
        "tool": "canvas-ai-harness contract",
        "version": __version__,
        "target": {
            "base_url": session.target.base_url,
            "source": session.target.source,
            "embedded_mock": session.embedded is not None or session.target.source == "<mock>",
        },
        "profile": {"name": session.profile_name, "source": session.profile_source},
        "seed": session.seed,
        "max_examples": session.settings.max_examples,
        "duration_s": round(session.duration, 3),
        "outcome": verdict(session).split(":")[0].lower(),
        "verdict": verdict(session),
        "exit_code": exit_code(session),
        "requests": {
            "sent": client.sent,
            "by_operation": dict(sorted(client.by_operation.items())),
            "throttled_retries": client.throttle_retries,
        },
        "llm_calls": {"used": budget.used, "limit": budget.limit, "generated_cases_not_sent": session.unsent},
        "creates": {"used": session.creates.used, "limit": session.creates.limit},
        "cost_estimate": session.estimate.to_dict() if session.estimate is not None else None,
        "daily_allowance": client.allowance.report(),
        "cleanup": {
            "conversations_created": cleanup.created,
            "already_closed": cleanup.already_closed,
            "closed_at_end": cleanup.closed,
            "left_open": cleanup.left_open,
            "unconfirmed_creates": cleanup.unconfirmed,
        },
        "checks": check_table(session),
        "tests": [
            {
                "test": o.nodeid,
                "outcome": o.outcome,
                "checks": list(o.checks),
                "operation": o.operation,
                "reason": o.reason,
                "incomplete": o.incomplete,
                "duration_s": round(o.duration, 3),
            }
            for o in session.outcomes
        ],
        "failures": [dict(o.violation, test=o.nodeid) for o in session.outcomes if o.violation],
        "errors": [{"test": o.nodeid, "error": o.reason} for o in session.outcomes if o.outcome == "error"],
        "harness_errors": [
            {"test": o.nodeid, "error": o.reason, "traceback": o.traceback} for o in session.harness_errors
        ],
        "notes": session.notes,
    }
    return redact_data(report, session.redactor)  # type: ignore[no-any-return]


def _operations(rows: Iterable[dict[str, Any]]) -> list[str]:
    extra = sorted({op for row in rows for op in row["evaluations"] if op not in ALL_OPERATIONS})
    return [*ALL_OPERATIONS, *extra]


def render_summary(session: ContractSession) -> str:
    """The human summary: checks by operation, failures with their reproduction, skips with reasons."""
    rows = check_table(session)
    target = session.target
    where = "embedded mock Canvas" if session.target.source == "<mock>" else target.source
    lines = [
        f"Contract suite against {target.base_url} ({where}); profile {session.profile_name} "
        f"({session.profile_source}); seed {session.seed}",
        "",
        f"{'Checks by operation':<34}{'passed':>8}{'failed':>8}{'skipped':>9}",
    ]
    for op in _operations(rows):
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for row in rows:
            if op not in row["operations"] and op not in row["evaluations"]:
                continue
            evaluated = row["evaluations"].get(op)
            if evaluated and evaluated["failed"]:
                counts["failed"] += 1
            elif evaluated and evaluated["passed"]:
                counts["passed"] += 1
            else:
                counts["skipped"] += 1
        if any(counts.values()):
            lines.append(f"  {op:<32}{counts['passed']:>8}{counts['failed']:>8}{counts['skipped']:>9}")
    failures = [o for o in session.outcomes if o.violation]
    errors = [o for o in session.outcomes if o.outcome == "error" or (o.outcome == "failed" and not o.violation)]
    if failures:
        lines += _failures_by_check(failures)
    if errors:
        lines += ["", f"Errors ({len(errors)})"]
        lines += [f"  {o.nodeid}: {o.reason}" for o in errors]
    if session.harness_errors:
        lines += ["", f"Harness errors ({len(session.harness_errors)}; bugs of the harness, not the target's)"]
        lines += [f"  {o.nodeid}: {o.reason}" for o in session.harness_errors]
    selection = session.settings.selection
    skipped = [r for r in rows if r["status"] in ("skipped", "not exercised") and selection.applies(r["name"])]
    if skipped:
        lines += ["", f"Skipped ({len(skipped)} checks)"]
        lines += [f"  - {r['name']}: {r['reason']}" for r in skipped]
    if selection.narrowed:
        chosen = [r["name"] for r in rows if selection.applies(r["name"])]
        lines += ["", f"Chosen by --only/--skip: {len(chosen)} of {len(rows)} checks ran ({', '.join(chosen)})"]
    incomplete = [o for o in session.outcomes if o.incomplete]
    if incomplete:
        lines += ["", "Could not run"]
        lines += [f"  - {o.nodeid}: {o.reason}" for o in incomplete]
    if session.notes:
        lines += ["", "Notes"] + [f"  - {note}" for note in session.notes]
    budget, cleanup = session.budget, session.cleanup
    limit = "no limit" if budget.limit is None else f"limit {budget.limit}"
    lines += [
        "",
        f"Requests: {session.client.sent} sent ({session.client.throttle_retries} retried after throttling); "
        f"AI calls: {budget.used} ({limit}){_unsent(session)}; creates: {session.creates.used} "
        f"({'no limit' if session.creates.limit is None else f'limit {session.creates.limit}'}); "
        f"{session.duration:.1f} s",
        session.client.allowance.render(),
        f"Conversations: {cleanup.created} created, {cleanup.already_closed} already closed, "
        f"{cleanup.closed} closed at the end, {len(cleanup.left_open)} left open"
        + (f" (ids {', '.join(map(str, cleanup.left_open[:10]))})" if cleanup.left_open else "")
        + (
            f"; {len(cleanup.unconfirmed)} broken-off creates Canvas could not be asked about "
            f"(as {', '.join(sorted(set(cleanup.unconfirmed)))}: check their active conversations)"
            if cleanup.unconfirmed
            else ""
        ),
        f"Result: {verdict(session)} (exit {exit_code(session)})",
    ]
    return session.redactor("\n".join(lines))


def _failures_by_check(failures: list[Outcome]) -> list[str]:
    """Each broken check once, with its first failure in full: a systemic break reads as one line."""
    by_check: dict[str, list[tuple[Outcome, dict[str, Any], dict[str, Any]]]] = {}
    for outcome in failures:
        assert outcome.violation is not None
        for finding in outcome.violation["findings"]:
            by_check.setdefault(finding["check"], []).append((outcome, outcome.violation, finding))
    total = sum(len(items) for items in by_check.values())
    lines = ["", f"Failed checks ({len(by_check)}; {total} failing answers)"]
    for name, items in by_check.items():
        outcome, violation, finding = items[0]
        operations = sorted({v["operation"] or UNROUTED for _, v, _ in items})
        count = f"{len(items)} answer{'s' if len(items) > 1 else ''}"
        lines += [
            f"  [{name}] on {', '.join(operations)} ({count})",
            f"    expected: {finding['expected']}",
            f"    got: {finding['got']}",
            *([f"    at {where(finding)}"] if finding.get("path") else []),
            f"    request: {violation['request']}   [{outcome.nodeid}]",
            f"    reproduce: {violation['reproduce']}",
        ]
        if len(items) > 1:
            lines.append(f"    and {len(items) - 1} more like it (contract-report.json lists every one)")
    return lines


def _unsent(session: ContractSession) -> str:
    if not session.unsent:
        return ""
    return f", {session.unsent} generated cases not sent to stay within it and the explorations' create caps"


def write_reports(session: ContractSession, directory: Path) -> list[Path]:
    """Write the JSON report, the summary and the HTML page into ``directory``; return their paths.

    Also after Ctrl-C and after harness errors: what ran is reported.
    """
    directory.mkdir(parents=True, exist_ok=True)
    data = build_report(session)
    report = directory / REPORT_NAME
    report.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = directory / SUMMARY_NAME
    summary.write_text(render_summary(session) + "\n", encoding="utf-8")
    page = write_html_report(data, directory, invocation(session.redactor, session.settings.command or None))
    return [report, summary, page]
