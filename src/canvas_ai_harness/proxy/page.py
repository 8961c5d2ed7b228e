"""The proxy's HTML page: a conformance report's data (``ConformanceReport.to_dict()``) as ``proxy.html.j2``.

Verdict first; then per route the requests and violations; each request that broke the spec
with what was sent (method, path, headers, body) and what came back (status, headers, body),
bodies shortened around what the violation names; the matrix of answers: every status the
spec declares for each operation, met or never met in this run; the answers a client must be
ready for; the client's behaviour. The data is redacted already (``to_dict`` does it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from canvas_ai_harness.exits import verdict_word
from canvas_ai_harness.htmlreport import render
from canvas_ai_harness.proxy.observe import MEET_WITH_MOCK
from canvas_ai_harness.spec import load_spec

__all__ = ["answer_matrix", "render_page"]

_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
_STATUS_OF_LABEL: Final = {"{}": "200", "403 throttled": "403"}


def _declared() -> dict[str, list[str]]:
    """operationId -> the statuses the spec declares for it, in the spec's order."""
    out: dict[str, list[str]] = {}
    for item in load_spec().get("paths", {}).values():
        for method, operation in item.items():
            if method in _METHODS:
                out[operation["operationId"]] = [code for code in operation.get("responses", {}) if code.isdigit()]
    return out


def answer_matrix(routes: dict[str, Any]) -> dict[str, Any]:
    """Per operation and status: how often it was met, ``never`` (declared, not met) or undeclared but met.

    ``columns`` are every status declared or met, sorted; each row's cells are
    ``{"state": "met" | "never" | "undeclared" | "", "count": n}``.
    """
    declared = _declared()
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, route in routes.items():
        for label, n in route["answers"].items():
            status = _STATUS_OF_LABEL.get(label, label)
            if status.isdigit():
                seen[name][status] += n
    columns = sorted({c for codes in declared.values() for c in codes} | {c for s in seen.values() for c in s})
    rows = []
    for operation, codes in declared.items():
        met = seen.get(operation, {})
        cells = []
        for column in columns:
            count = met.get(column, 0)
            if column in codes:
                cells.append({"state": "met" if count else "never", "count": count})
            else:
                cells.append({"state": "undeclared" if count else "", "count": count})
        never = [c for c in codes if not met.get(c)]
        rows.append({"operation": operation, "cells": cells, "never": never, "requests": sum(met.values())})
    return {"columns": columns, "rows": rows}


def _grouped(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each request with a violation: its exchange (what was sent, what came back) and its violations."""
    by_request: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for violation in data["violations"]:
        by_request[violation["request"]].append(violation)
    return [{**exchange, "violations": by_request.get(exchange["request"], [])} for exchange in data["exchanges"]]


def render_page(data: dict[str, Any], json_name: str | None = None) -> str:
    """The page for ``data`` (already redacted); ``json_name`` (and its ``.txt``) is linked when given."""
    links = []
    if json_name:
        links = [("JSON report", json_name), ("text summary", json_name.rsplit(".", 1)[0] + ".txt")]
    context = {
        "title": "Proxy conformance report",
        "verdict": verdict_word(data["exit_code"]),
        "exit_code": data["exit_code"],
        "command": data["command"],
        "subtitle": f"{data['verdict']} · upstream {data['upstream']}" + (" · --strict" if data["strict"] else ""),
        "generated": f"{data['started_at']} to {data['finished_at']}",
        "links": links,
        "data": data,
        "matrix": answer_matrix(data["routes"]),
        "requests": _grouped(data),
        "failures": {k: n for k, n in data["upstream_answers"]["failures"].items() if n},
        "meet": {label: MEET_WITH_MOCK[label] for label in data["answers_not_met"] if label in MEET_WITH_MOCK},
    }
    return render("proxy.html.j2", context)
