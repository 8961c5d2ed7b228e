"""``load-report.html``: the run's verdict first, then every threshold, the outcomes, the charts.

``page_context`` turns a run's summary (already redacted), its charts (``charts.py``, inline
SVG) and locust's own figures for the same run into what ``templates/load.html.j2`` shows:

- every threshold and run rule with ✓/✗, its measured value, its limit and what it means;
- the outcome breakdown (ok, throttled, AI 503, contract, timeout, redirect, error) per route;
- the routes' latency, conversations, errors and contract examples;
- where our figures and locust's differ, side by side, with the reason for each difference.

The reasons are locust's own code (``locust/stats.py``, ``locust/html.py``, 2.x): its
``total_rps`` divides by ``last_request_timestamp - start_time``, its percentiles come from
response times rounded to two significant digits (``bucket_response_time``), counted over
failures too, with its own rank (``int(n * p)`` from the top). Ours divide by the measured
window (first user started to the stop, before clean-up), and take percentiles of successful
responses from ``Histogram`` (within 0.4 %), by nearest rank.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from canvas_ai_harness.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, verdict_word
from canvas_ai_harness.load.outcomes import OUTCOMES
from canvas_ai_harness.load.thresholds import Check

__all__ = ["OUTCOME_LABELS", "page_context"]

OUTCOME_LABELS = {
    "ok": "ok",
    "throttled": "throttled (403/429 rate limit)",
    "ai_unavailable": "AI 503",
    "contract": "contract violation",
    "timeout": "timeout",
    "redirect": "redirect",
    "error": "error",
}
_MEANING = {
    "requests": "the run sent at least one request",
    "error_rate": "share of requests that failed otherwise (not throttled, not AI 503)",
    "throttled_rate": "share answered 403/429 Rate Limit Exceeded",
    "ai_unavailable_rate": "share answered 503 (the AI service failed)",
    "contract_violations": "sampled responses that broke the contract",
    "min_conversations_per_minute": "conversations ended by their student, per minute",
    "min_requests_per_second": "requests per second over the run",
    "time_to_first_reply_p95_ms": "p95 from opening the chat to the first assistant message",
}
_PERCENTILE = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}


def _meaning(check: Mapping[str, Any]) -> str:
    name = str(check["threshold"])
    if check.get("why"):
        return str(check["why"])
    key, _, route = name.partition(".")
    if route:
        where = "every route" if route == "all" else route
        return f"{_PERCENTILE.get(key, key)} latency of successful responses on {where}"
    return _MEANING.get(name, "")


def _check_rows(checks: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for raw in checks:
        unit = f" {raw['unit']}" if raw.get("unit") else ""
        check = Check(raw["threshold"], raw["limit"], raw["measured"], raw["passed"], raw["bound"], unit)
        rows.append(
            {
                "name": check.name,
                "passed": check.passed,
                "mark": check.mark,
                "measured": check.shown,
                "limit": check.relation,
                "meaning": _meaning(raw),
            }
        )
    return rows


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f}"


def _differences(summary: Mapping[str, Any], locust: Mapping[str, Any]) -> list[dict[str, str]]:
    """Our figure and locust's for the same run, with why they differ."""
    totals, run = summary.get("totals", {}), summary.get("run", {})
    rows = [
        {
            "figure": "requests/s",
            "ours": f"{totals.get('rps', 0):g}",
            "locust": f"{locust['rps']:.2f}" if locust.get("rps") is not None else "-",
            "why": "locust divides by the time from its stats reset to the last request it saw; we divide by "
            "the measured window (first user started to the stop, before clean-up). With think times, the last "
            "request often comes well before the end, so locust's window is shorter.",
        },
        {
            "figure": "duration",
            "ours": f"{run.get('duration_s', 0):g} s",
            "locust": f"{locust['duration_s']:.1f} s" if locust.get("duration_s") is not None else "-",
            "why": "locust's report shows start to last request (locust/html.py); a run whose users think "
            "ends its last request before its run time.",
        },
        {
            "figure": "requests",
            "ours": f"{totals.get('requests', 0)}",
            "locust": f"{locust['requests']}" if locust.get("requests") is not None else "-",
            "why": "we also count a request still waiting when its user was stopped (a timeout); locust "
            "drops it. Neither counts clean-up's DELETEs, sent after the measured window.",
        },
    ]
    for route, figures in sorted(summary.get("routes", {}).items()):
        theirs = locust.get("p95_ms", {}).get(route)
        rows.append(
            {
                "figure": f"p95 {route}",
                "ours": f"{_ms(figures.get('p95_ms'))} ms",
                "locust": "-" if theirs is None else f"{theirs:,.0f} ms",
                "why": "locust rounds each response time to two significant digits (1234 ms is kept as 1200) "
                "and counts failed requests too; ours are successful responses only, exact to 0.4 %.",
            }
        )
    return rows


def page_context(
    summary: Mapping[str, Any],
    charts: Mapping[str, str],
    *,
    command: str,
    locust: Mapping[str, Any] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """What ``load.html.j2`` shows for a run (``summary`` as ``report.summarise`` made it, redacted)."""
    from markupsafe import Markup  # Jinja2's: the SVG texts are ours, made by matplotlib

    verdict = summary.get("verdict", {})
    passed = bool(verdict.get("passed"))
    run, totals = summary.get("run", {}), summary.get("totals", {})
    checks = _check_rows(list(verdict.get("checks", [])))
    missed = sum(1 for row in checks if not row["passed"])
    requests = int(totals.get("requests", 0))
    outcomes = [
        {
            "name": o,
            "label": OUTCOME_LABELS[o],
            "count": int(totals.get(o, 0)),
            "share": _share(totals.get(o, 0), requests),
        }
        for o in OUTCOMES
    ]
    routes = []
    for route, figures in sorted(summary.get("routes", {}).items()):
        routes.append(
            {
                "route": route,
                "requests": figures.get("requests", 0),
                "rps": figures.get("rps", 0),
                "outcomes": [figures.get("outcomes", {}).get(o, 0) for o in OUTCOMES],
                **{key: _ms(figures.get(key)) for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")},
            }
        )
    conv = summary.get("conversations", {})
    first = conv.get("time_to_first_reply", {})
    turns = [
        {"turn": turn, "count": f.get("count", 0), "p50_ms": _ms(f.get("p50_ms")), "p95_ms": _ms(f.get("p95_ms"))}
        for turn, f in conv.get("turn_latency", {}).items()
    ]
    cut = bool(summary.get("cleanup", {}).get("cut_short"))
    code = EXIT_INTERRUPTED if run.get("interrupted") else EXIT_OK if passed else EXIT_FAILED
    return {
        "title": "canvas-ai-harness load",
        "verdict": verdict_word(code),
        "exit_code": code,
        "command": command,
        "subtitle": (
            f"{run.get('shape', '?')}: {run.get('users', '?')} users for {run.get('run_time_s', '?')} s against "
            f"{run.get('host', '?')}; {len(checks)} checks, {missed} missed"
            + (" (interrupted: a Ctrl-C stopped it)" if run.get("interrupted") else "")
            + (" (clean-up cut short)" if cut else "")
        ),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "links": links or [],
        "run": run,
        "checks": checks,
        "missed": missed,
        "requests": requests,
        "outcomes": outcomes,
        "outcome_labels": [OUTCOME_LABELS[o] for o in OUTCOMES],
        "routes": routes,
        "conversations": conv,
        "first_reply": {
            "count": first.get("count", 0),
            "p50_ms": _ms(first.get("p50_ms")),
            "p95_ms": _ms(first.get("p95_ms")),
        },
        "turns": turns,
        "cleanup": summary.get("cleanup", {}),
        "errors": list(summary.get("errors", {}).items())[:20],
        "contract_examples": list(summary.get("contract", {}).get("examples", [])),
        "charts": {name: Markup(svg) for name, svg in charts.items()},
        "differences": _differences(summary, locust or {}),
        "has_locust": locust is not None,
    }


def _share(part: Any, whole: int) -> str:
    return f"{100 * float(part) / whole:.1f} %" if whole else "-"
