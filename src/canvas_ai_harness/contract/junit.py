"""The contract run as JUnit XML: one test case per named check, not per pytest item.

A CI page then reads as the contract does: ``createConversation.create-answers-201`` failed,
with the rule, the first failing exchange and the ``curl`` line that reproduces it, rather than
27 failures named after generated test ids. The file follows the common JUnit shape (one
``<testsuites>`` with one ``<testsuite>``; ``<testcase classname name time>`` holding at most
one ``<failure>``, ``<error>`` or ``<skipped>``), which GitHub, GitLab and Jenkins read:

- a check's classname is the one operation it applies to, else ``contract``; its name is the
  check's name;
- a broken check is a ``<failure>``; a check that could not run for lack of budget or because
  Canvas throttled (the run is incomplete, never a pass) is an ``<error>``; a check the run did
  not apply (a field missing from the target file, ``--only``/``--skip``, no answer it applies
  to) is ``<skipped message=...>``;
- what is nobody's rule (an error inside a test, a target that stopped answering, another run on
  the same accounts, Ctrl-C) is an
  ``<error>`` of its own under classname ``harness``, so that such a run is never green.

No Hypothesis statistics and no base64 properties: the properties are the seed, the profile
and the target's base URL. Every text is redacted whole, then shortened.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_ai_harness.contract.checks import CHECKS, UNROUTED, where
from canvas_ai_harness.contract.report import check_table, verdict

if TYPE_CHECKING:
    from canvas_ai_harness.contract.session import ContractSession, Outcome

__all__ = ["HARNESS_CLASS", "SUITE_CLASS", "build_junit", "classname", "write_junit"]

SUITE_CLASS = "contract"  # the classname of a check that applies to several operations
HARNESS_CLASS = "harness"  # what is no check's: errors inside a test, an unreachable target, Ctrl-C
_MESSAGE_CHARS = 500
_FAILURE_CHARS = 2000  # a failure's message carries the exchange and its curl line too
# XML 1.0 forbids most control characters; a fuzzed answer may hold any of them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def classname(check_name: str) -> str:
    """The JUnit classname of a check: its one operation, else ``contract``."""
    operations = CHECKS[check_name].operations
    return operations[0] if len(operations) == 1 and operations[0] != UNROUTED else SUITE_CLASS


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _short(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """One line of at most ``limit`` characters; redact ``text`` before, never after."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _failures(session: ContractSession) -> dict[str, list[tuple[Outcome, dict[str, Any], dict[str, Any]]]]:
    by_check: dict[str, list[tuple[Outcome, dict[str, Any], dict[str, Any]]]] = {}
    for outcome in session.outcomes:
        if outcome.violation:
            for finding in outcome.violation["findings"]:
                by_check.setdefault(finding["check"], []).append((outcome, outcome.violation, finding))
    return by_check


def _failure_text(name: str, items: list[tuple[Outcome, dict[str, Any], dict[str, Any]]]) -> tuple[str, str]:
    """The failure's message (one line) and body: the rule, the first failing exchange, its ``curl``."""
    outcome, violation, finding = items[0]
    operations = sorted({v["operation"] or UNROUTED for _, v, _ in items})
    count = f"{len(items)} failing answer{'s' if len(items) > 1 else ''} on {', '.join(operations)}"
    body = [
        f"[{name}] {CHECKS[name].rule}",
        f"{count}; the first:",
        f"  request: {violation['request']}",
        f"  expected: {finding['expected']}",
        f"  got: {finding['got']}",
        *([f"  at {where(finding)}"] if finding.get("path") else []),
        f"  reproduce: {violation['reproduce']}",
        f"  test: {outcome.nodeid}",
    ]
    at = f"; at {where(finding)}" if finding.get("path") else ""
    message = (
        f"[{name}] expected: {finding['expected']}; got: {finding['got']}{at} ({count}); "
        f"first: {violation['request']}; reproduce: {violation['reproduce']}"
    )
    return message, "\n".join(body)


def _incomplete(session: ContractSession) -> dict[str, str]:
    """Each check a test was about that could not run (budget, throttling), with why."""
    reasons: dict[str, str] = {}
    for outcome in session.outcomes:
        if outcome.incomplete:
            for name in outcome.checks:
                reasons.setdefault(name, outcome.reason)
    return reasons


def _case(suite: ET.Element, cls: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=cls, name=name, time=f"{seconds:.3f}")


def _harness_errors(session: ContractSession) -> Iterable[tuple[str, str, str]]:
    """(name, message, kind) of everything that went wrong outside the checks."""
    for o in session.outcomes:
        if o.outcome == "harness-error":  # a bug of the harness (exit 3): the traceback is in the report
            yield o.nodeid, o.reason or "the harness itself failed", "HarnessFailure"
        elif o.outcome == "error" or (o.outcome == "failed" and not o.violation):
            yield o.nodeid, o.reason or "the test ended in an error", "HarnessError"
    if session.unreachable:
        yield "target-reachable", verdict(session), "TargetUnreachable"
    if session.accounts_in_use:
        yield "accounts-not-in-use", verdict(session), "SetupProblem"
    if session.interrupted:
        yield "run-finished", verdict(session), "Interrupted"


def build_junit(session: ContractSession) -> ET.Element:
    """The run as a ``<testsuites>`` element (texts already redacted)."""
    redact = session.redactor
    rows = check_table(session)
    failures, incomplete = _failures(session), _incomplete(session)
    seconds: dict[str, float] = {}
    for outcome in session.outcomes:
        for name in filter(session.settings.selection.applies, outcome.checks):
            seconds[name] = seconds.get(name, 0.0) + outcome.duration
    root = ET.Element("testsuites", name="canvas-ai-harness contract")
    suite = ET.SubElement(root, "testsuite", name="contract", timestamp=_timestamp(session.started))
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("target", session.target.base_url),
        ("profile", session.profile_name),
        ("seed", str(session.seed)),
    ):
        ET.SubElement(properties, "property", name=key, value=_xml_text(redact(value)))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for row in rows:
        name = row["name"]
        case = _case(suite, classname(name), name, seconds.get(name, 0.0))
        counts["tests"] += 1
        if row["status"] == "failed" and name in failures:
            message, body = _failure_text(name, failures[name])
            element = ET.SubElement(case, "failure", message=_xml_text(_short(redact(message), _FAILURE_CHARS)))
            element.set("type", "ContractViolation")
            element.text = _xml_text(redact(body))
            counts["failures"] += 1
        elif row["status"] == "failed":  # counted failing, but its violation was not kept: say so
            element = ET.SubElement(case, "failure", message=f"[{name}] failed; see contract-report.json")
            element.set("type", "ContractViolation")
            counts["failures"] += 1
        elif row["status"] != "passed" and name in incomplete and session.settings.selection.applies(name):
            reason = _xml_text(_short(redact(f"could not run: {incomplete[name]}")))
            ET.SubElement(case, "error", message=reason, type="Incomplete")
            counts["errors"] += 1
        elif row["status"] != "passed":
            ET.SubElement(case, "skipped", message=_xml_text(_short(redact(row["reason"] or row["status"]))))
            counts["skipped"] += 1
    for name, reason, kind in _harness_errors(session):
        case = _case(suite, HARNESS_CLASS, _xml_text(redact(name)))
        element = ET.SubElement(case, "error", message=_xml_text(_short(redact(reason))), type=kind)
        element.text = _xml_text(redact(reason))
        counts["tests"] += 1
        counts["errors"] += 1
    for key, count in counts.items():
        suite.set(key, str(count))
        root.set(key, str(count))
    suite.set("time", f"{session.duration:.3f}")
    root.set("time", f"{session.duration:.3f}")
    return root


def _timestamp(started: float) -> str:
    return dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def write_junit(session: ContractSession, path: Path) -> Path:
    """Write the run's JUnit XML to ``path`` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(build_junit(session))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
