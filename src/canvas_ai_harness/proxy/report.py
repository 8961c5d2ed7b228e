"""The proxy's conformance report: per route, per answer, per violation, and the client's behaviour.

``ConformanceReport`` takes each ``Exchange`` as the proxy finishes it. ``to_dict()`` is the JSON
report; ``to_text()`` is a readable summary of it and ``to_html()`` the page (``proxy/page.py``):
per route, each violation with its request and answer, the answers met and never met. Every
string goes through a ``Redactor`` that knows each token the proxy has seen, so no token reaches
a report, whatever a client put where. A body is redacted before it is shortened, never after.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness import __version__
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from canvas_ai_harness.htmlreport import around, command_line
from canvas_ai_harness.proxy.observe import (
    MEET_WITH_MOCK,
    NOTABLE_ANSWERS,
    UPSTREAM_FAILURES,
    BehaviourObserver,
    Exchange,
)
from canvas_ai_harness.proxy.page import render_page
from canvas_ai_harness.redact import Redactor, redact_data
from canvas_ai_harness.validation import Violation

__all__ = ["ConformanceReport", "write_report"]

UNKNOWN_ROUTE: Final = "(no operation)"
_MAX_VIOLATIONS: Final = 1000
_MAX_BODY_CHARS: Final = 16_384  # a longer body is redacted, then kept around what its violation names


@dataclass(slots=True)
class _RouteStats:
    requests: int = 0
    non_conforming_requests: int = 0
    request_violations: Counter[str] = field(default_factory=Counter)  # by kind
    response_violations: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)


class ConformanceReport:
    """Everything the proxy saw, aggregated as it goes (constant memory but for examples)."""

    def __init__(self, upstream: str, strict: bool, redactor: Redactor | None = None) -> None:
        self.upstream = upstream
        self.strict = strict
        self.redactor = redactor or Redactor()
        self.started_at = datetime.now(UTC)
        self.finished_at: datetime | None = None
        self.observer = BehaviourObserver()
        self.routes: dict[str, _RouteStats] = {}
        self.answers: Counter[str] = Counter()
        self.violations: list[dict[str, Any]] = []
        self.omitted_violations = 0
        self.requests = 0
        self.rejected = 0
        self.upstream_answered = 0  # requests the upstream answered (any status)
        self.upstream_failures: Counter[str] = Counter()  # requests it failed to answer, by how
        self.exchanges: list[dict[str, Any]] = []  # each request with a kept violation: what was sent, what came back
        self.argv: list[str] = list(sys.argv)  # the command line, redacted when written

    def add(self, exchange: Exchange, created_id: str | None = None) -> None:
        """Account for one finished exchange (counted last: a reader that sees it counted sees all of it)."""
        stats = self.routes.setdefault(exchange.operation_id or UNKNOWN_ROUTE, _RouteStats())
        stats.requests += 1
        stats.answers[exchange.answer] += 1
        self.answers[exchange.answer] += 1
        if exchange.answer == "rejected":
            self.rejected += 1
        if exchange.upstream_failure is not None:
            self.upstream_failures[exchange.upstream_failure] += 1
        elif exchange.status is not None:
            self.upstream_answered += 1
        if exchange.request_violations:
            stats.non_conforming_requests += 1
        kept = len(self.violations)
        for side, found, counter in (
            ("request", exchange.request_violations, stats.request_violations),
            ("response", exchange.response_violations, stats.response_violations),
        ):
            for violation in found:
                counter[violation.kind] += 1
                if len(self.violations) >= _MAX_VIOLATIONS:
                    self.omitted_violations += 1
                    continue
                self.violations.append(
                    {
                        **_identity(exchange),
                        "side": side,
                        "kind": violation.kind,
                        "where": violation.where,
                        "message": violation.message,
                    }
                )
        if len(self.violations) > kept:
            self.exchanges.append(self._detail(exchange))
        if exchange.request_headers is not None:  # the observer keeps exchanges: not their bodies
            exchange = replace(
                exchange, request_headers=None, request_body=b"", response_headers=None, response_body=None
            )
        self.observer.observe(exchange, created_id)
        self.requests += 1

    def _detail(self, exchange: Exchange) -> dict[str, Any]:
        """What was sent and what came back, for a request with a violation (headers redacted by name now)."""
        sent = self.redactor.headers(dict(exchange.request_headers or {}))
        got = None if exchange.response_headers is None else self.redactor.headers(dict(exchange.response_headers))
        return {
            **_identity(exchange),
            "answer": exchange.answer,
            "request_headers": sent,
            "request_body": self._body(exchange.request_body, exchange.request_violations),
            "response_headers": got,
            "response_body": None
            if exchange.response_body is None
            else self._body(exchange.response_body, exchange.response_violations),
        }

    def _body(self, body: bytes, violations: tuple[Violation, ...]) -> dict[str, Any]:
        """``{"text", "needle", "bytes"}``: the body as text (JSON indented), what its violation names, its size."""
        text = body.decode("utf-8", "replace")
        if len(text) <= _MAX_BODY_CHARS:
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        needle = _needle(text, violations)
        if len(text) > _MAX_BODY_CHARS:  # redact first, then shorten (to_dict redacts the rest later)
            text = around(self.redactor(text), needle, _MAX_BODY_CHARS)
        return {"text": text, "needle": needle, "bytes": len(body)}

    # -- totals -------------------------------------------------------------------------------
    @property
    def request_violation_count(self) -> int:
        return sum(sum(s.request_violations.values()) for s in self.routes.values())

    @property
    def response_violation_count(self) -> int:
        return sum(sum(s.response_violations.values()) for s in self.routes.values())

    @property
    def non_conforming_requests(self) -> int:
        return sum(s.non_conforming_requests for s in self.routes.values())

    @property
    def passed(self) -> bool:
        """No request and no response broke the spec, and the upstream answered every request sent to it.

        A request the upstream never answered was not observed: the client only met the proxy's 502.
        """
        clean = self.request_violation_count == 0 and self.response_violation_count == 0
        return clean and not self.upstream_failures

    @property
    def upstream_unreachable(self) -> bool:
        """The upstream failed every request forwarded to it: nothing of the client's traffic was seen answered."""
        return bool(self.upstream_failures) and self.upstream_answered == 0

    def exit_code(self) -> int:
        """0 passed; 1 a violation, or the upstream failed some requests; 2 the upstream never answered."""
        if self.upstream_unreachable:
            return EXIT_USAGE
        return EXIT_OK if self.passed else EXIT_FAILED

    def verdict(self) -> str:
        """One line: PASSED, FAILED (with the upstream's failures) or UPSTREAM UNREACHABLE."""
        failures = sum(self.upstream_failures.values())
        if self.upstream_unreachable:
            return (
                f"UPSTREAM UNREACHABLE: the upstream answered none of {failures} forwarded requests "
                f"({_counts(dict(self.upstream_failures))}); check --upstream and that it is up"
            )
        if self.upstream_failures:
            return f"FAILED: the upstream failed {failures} requests ({_counts(dict(self.upstream_failures))})"
        return "PASSED" if self.passed else "FAILED"

    def finish(self) -> ConformanceReport:
        if self.finished_at is None:
            self.finished_at = datetime.now(UTC)
            self.observer.finish()
        return self

    # -- rendering ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON report (see README.md, "Validating your client")."""
        finished = self.finished_at or datetime.now(UTC)
        data: dict[str, Any] = {
            "tool": f"canvas-ai-harness {__version__} proxy",
            "upstream": self.upstream,
            "strict": self.strict,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(finished),
            "passed": self.passed,
            "verdict": self.verdict(),
            "exit_code": self.exit_code(),
            "upstream_answers": {
                "answered": self.upstream_answered,
                "failures": {kind: self.upstream_failures[kind] for kind in UPSTREAM_FAILURES},
            },
            "totals": {
                "requests": self.requests,
                "conforming_requests": self.requests - self.non_conforming_requests,
                "non_conforming_requests": self.non_conforming_requests,
                "request_violations": self.request_violation_count,
                "response_violations": self.response_violation_count,
                "rejected": self.rejected,
            },
            "routes": {
                name: {
                    "requests": s.requests,
                    "non_conforming_requests": s.non_conforming_requests,
                    "request_violations": dict(sorted(s.request_violations.items())),
                    "response_violations": dict(sorted(s.response_violations.items())),
                    "answers": dict(sorted(s.answers.items())),
                }
                for name, s in sorted(self.routes.items())
            },
            "answers_met": dict(sorted(self.answers.items())),
            "answers_not_met": [a for a in NOTABLE_ANSWERS if a not in self.answers],
            "behaviour": [
                {
                    "name": b.name,
                    "verdict": b.verdict,
                    "description": b.description,
                    "count": b.count,
                    "examples": b.examples,
                }
                for b in self.observer.behaviours.values()
                if b.count
            ],
            "violations": self.violations,
            "omitted_violations": self.omitted_violations,
            "exchanges": self.exchanges,
            "command": command_line(_shown_argv(self.argv), self.redactor),
        }
        redacted: dict[str, Any] = redact_data(data, self.redactor)
        return redacted

    def to_text(self) -> str:
        """A readable summary of ``to_dict()``."""
        return _text(self.to_dict())

    def to_html(self, json_name: str | None = None) -> str:
        """The self-contained HTML page (``proxy/page.py``); ``json_name`` is linked when given."""
        return render_page(self.to_dict(), json_name)


def write_report(report: ConformanceReport, path: Path) -> list[Path]:
    """Write the JSON report at ``path`` and its text and HTML summaries beside it; return the paths."""
    report.finish()
    data = report.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text_path, html_path = path.with_suffix(".txt"), path.with_suffix(".html")
    text_path.write_text(_text(data), encoding="utf-8")
    html_path.write_text(render_page(data, path.name), encoding="utf-8")
    return [path, text_path, html_path]


def _identity(exchange: Exchange) -> dict[str, Any]:
    """Which request: its number, client, method, path, operation and status (as violations name it)."""
    return {
        "request": exchange.seq,
        "client": exchange.client,
        "method": exchange.method,
        "path": exchange.path,
        "operation": exchange.operation_id,
        "status": exchange.status,
    }


def _needle(text: str, violations: tuple[Violation, ...]) -> str | None:
    """Where a body shows what its first body violation names: ``"role"`` (JSON) or ``message=`` (a form)."""
    for violation in violations:
        if violation.where.startswith("body."):
            key = re.split(r"[.\[]", violation.where)[-1]
            for needle in (f'"{key}"', f"{key}="):
                if needle in text:
                    return needle
    return None


def _shown_argv(argv: list[str]) -> list[str]:
    """The command as typed: ``canvas-ai-harness proxy ...`` for the console script and ``python -m``."""
    if not argv:
        return ["canvas-ai-harness", "proxy"]
    first = os.path.basename(argv[0])
    if first == "canvas-ai-harness" or argv[0].endswith(os.path.join("canvas_ai_harness", "__main__.py")):
        first = "canvas-ai-harness"
    return [first, *argv[1:]]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.items()) or "-"


def _text(data: dict[str, Any]) -> str:
    totals = data["totals"]
    lines = [
        f"Conformance report ({data['tool']}): {data['verdict']}",
        f"Upstream {data['upstream']}, strict {'on' if data['strict'] else 'off'}, "
        f"{data['started_at']} to {data['finished_at']}",
        f"Requests: {totals['requests']} ({totals['conforming_requests']} conforming, "
        f"{totals['non_conforming_requests']} not; {totals['rejected']} rejected by --strict)",
        f"Violations: {totals['request_violations']} in requests, {totals['response_violations']} in responses",
        f"Upstream: answered {data['upstream_answers']['answered']} requests, failed to answer "
        f"{_counts({k: n for k, n in data['upstream_answers']['failures'].items() if n})}",
        "",
        f"{'route':<24} {'requests':>8} {'bad req':>8}  request violations / response violations / answers",
    ]
    for name, route in data["routes"].items():
        lines.append(
            f"{name:<24} {route['requests']:>8} {route['non_conforming_requests']:>8}  "
            f"{_counts(route['request_violations'])} / {_counts(route['response_violations'])} / "
            f"{_counts(route['answers'])}"
        )
    lines += [
        "",
        f"Answers the client met: {_counts(data['answers_met'])}",
        f"Answers it never met: {', '.join(data['answers_not_met']) or '-'}",
        *[
            f"  {label}: proxy --mock {MEET_WITH_MOCK[label]}"
            for label in data["answers_not_met"]
            if label in MEET_WITH_MOCK
        ],
        "",
        "Client behaviour:",
    ]
    if not data["behaviour"]:
        lines.append("  nothing notable")
    for behaviour in data["behaviour"]:
        lines.append(f"  [{behaviour['verdict']}] {behaviour['description']}: {behaviour['count']}")
        lines += [f"      {example}" for example in behaviour["examples"][:5]]
    if data["violations"]:
        lines += ["", "Violations (request number, client, request, where: what):"]
        for v in data["violations"]:
            status = v["status"] if v["status"] is not None else "not forwarded"
            lines.append(
                f"  #{v['request']} {v['client']} {v['method']} {v['path']} -> {status}: "
                f"{v['side']} {v['kind']} at {v['where'] or '-'}: {v['message']}"
            )
        if data["omitted_violations"]:
            lines.append(f"  ... and {data['omitted_violations']} more (only the first {_MAX_VIOLATIONS} are kept)")
    return "\n".join(lines) + "\n"
