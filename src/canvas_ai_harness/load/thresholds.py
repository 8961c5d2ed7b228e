"""Thresholds a load run must meet (a TOML file), and the verdict they give on a run's summary.

```toml
error_rate = 0.01                   # max share of requests that failed otherwise (not throttled, not 503)
throttled_rate = 0.05               # max share answered 403/429 "Rate Limit Exceeded"
ai_unavailable_rate = 0.02          # max share answered 503 (AI service failure)
contract_violations = 0             # max sampled responses that broke the contract
min_conversations_per_minute = 10   # conversations ended by their student, per minute
time_to_first_reply_p95_ms = 3000   # from opening the chat to the first assistant message

[p95_ms]                            # also [p50_ms] and [p99_ms]; keys: operationIds or "all"
postMessage = 3000
createConversation = 3000
```

Without a file, ``DEFAULTS`` apply: no error and no contract violation allowed, nothing on
latency. A file replaces the defaults. Whatever the file, a run fails (``RUN_RULES``) when it
sent no request, when a request timed out or was redirected, when the target stopped answering
for 90 % of a request timeout (throughput collapsed), when clean-up could not end a conversation,
when a user waited for an identity, or when a simulated user crashed: a PASS means the harness
saw the target behave, and none of these is something it saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_ai_harness.config import read_toml, unknown_key
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.spec import load_spec

__all__ = ["DEFAULTS", "Check", "Thresholds", "evaluate", "load_thresholds", "parse_thresholds", "run_rules"]

_RATES = ("error_rate", "throttled_rate", "ai_unavailable_rate")
_MAX_SCALARS = (*_RATES, "contract_violations", "time_to_first_reply_p95_ms")
_MIN_SCALARS = ("min_conversations_per_minute", "min_requests_per_second")
_PERCENTILES = {"p50_ms": 50, "p95_ms": 95, "p99_ms": 99}
_ALL = "all"


@dataclass(frozen=True, slots=True)
class Thresholds:
    scalars: dict[str, float] = field(default_factory=dict)
    latency: dict[tuple[str, str], float] = field(default_factory=dict)  # (p95_ms, route) -> ms
    source: str = "<defaults>"


DEFAULTS = Thresholds({"error_rate": 0.0, "contract_violations": 0}, {}, "<defaults>")


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold against the run: ``measured`` is ``None`` when the run gave no value for it."""

    name: str
    limit: float
    measured: float | None
    passed: bool
    bound: str  # "max" or "min" ("below": less than the limit)
    unit: str = ""
    why: str = ""  # what a miss means, for the run rules

    def describe(self) -> str:
        shown = "nothing" if self.measured is None else self.shown
        relation = {"max": "at most", "min": "at least", "below": "below"}[self.bound]
        verdict = "ok" if self.passed else "MISSED"
        line = f"{verdict:6} {self.name}: measured {shown}, threshold {relation} {_number(self.limit)}{self.unit}"
        return f"{line}: {self.why}" if self.why and not self.passed else line

    @property
    def mark(self) -> str:
        return "✓" if self.passed else "✗"

    @property
    def relation(self) -> str:
        """The limit as a comparison: ``≤ 3000 ms``, ``≥ 10``, ``< 54 s``."""
        sign = {"max": "≤", "min": "≥", "below": "<"}[self.bound]
        return f"{sign} {_number(self.limit)}{self.unit}"

    @property
    def shown(self) -> str:
        """The measured value with its unit, ``-`` when the run gave none."""
        return "-" if self.measured is None else f"{_number(self.measured)}{self.unit}"

    def short(self) -> str:
        """``✓ p95_ms.postMessage 812 ms (≤ 3000 ms)``: for the progress line."""
        return f"{self.mark} {self.name} {self.shown} ({self.relation})"

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.name,
            "limit": self.limit,
            "measured": self.measured,
            "passed": self.passed,
            "bound": self.bound,
            "unit": self.unit.strip(),
            "why": self.why,
        }


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"


def _routes() -> list[str]:
    ids = [
        op["operationId"]
        for item in load_spec()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    return [*sorted(set(ids)), _ALL]


def _value(raw: Any, key: str, where: str, *, rate: bool) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
        raise ConfigError(f"{where}: {key} must be a number of at least 0, got {raw!r}")
    if rate and raw > 1:
        raise ConfigError(f"{where}: {key} is a share of requests between 0 and 1, got {raw!r} (write 0.05 for 5 %)")
    return float(raw)


def parse_thresholds(data: Mapping[str, Any], source: str = "<memory>") -> Thresholds:
    """Validate thresholds already parsed from TOML."""
    valid = [*_MAX_SCALARS, *_MIN_SCALARS, *_PERCENTILES]
    routes = _routes()
    scalars: dict[str, float] = {}
    latency: dict[tuple[str, str], float] = {}
    for key, raw in data.items():
        if key in _PERCENTILES:
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{source}: {key} must be a table, e.g. [{key}] then postMessage = 3000")
            for route, ms in raw.items():
                if route not in routes:
                    raise unknown_key(route, routes, f"{source} [{key}]")
                latency[(key, route)] = _value(ms, f"{key}.{route}", source, rate=False)
        elif key in valid:
            scalars[key] = _value(raw, key, source, rate=key in _RATES)
        else:
            raise unknown_key(key, valid, source)
    return Thresholds(scalars, latency, source)


def load_thresholds(path: Path) -> Thresholds:
    """Read and validate a thresholds file."""
    data = read_toml(path, f"thresholds file {path}", "write one (format: README.md, 'Load suite')")
    return parse_thresholds(data, str(path))


def _route_figure(summary: Mapping[str, Any], route: str, key: str) -> float | None:
    source = summary.get("all", {}) if route == _ALL else summary.get("routes", {}).get(route, {})
    value = source.get(key)
    return None if value is None else float(value)


def evaluate(thresholds: Thresholds, summary: Mapping[str, Any]) -> list[Check]:
    """Every threshold against a run's summary (``report.summarise``), in a stable order."""
    totals = summary.get("totals", {})
    conversations = summary.get("conversations", {})
    measured: dict[str, float | None] = {
        "error_rate": totals.get("error_rate"),
        "throttled_rate": totals.get("throttled_rate"),
        "ai_unavailable_rate": totals.get("ai_unavailable_rate"),
        "contract_violations": summary.get("contract", {}).get("violations"),
        "time_to_first_reply_p95_ms": conversations.get("time_to_first_reply", {}).get("p95_ms"),
        "min_conversations_per_minute": conversations.get("completed_per_minute"),
        "min_requests_per_second": totals.get("rps"),
    }
    checks = [Check("requests", 1, float(totals.get("requests", 0)), totals.get("requests", 0) >= 1, "min")]
    checks += run_rules(summary)
    for name, limit in sorted(thresholds.scalars.items()):
        value = measured.get(name)
        bound = "min" if name in _MIN_SCALARS else "max"
        unit = " ms" if name.endswith("_ms") else ""
        passed = value is not None and (value >= limit if bound == "min" else value <= limit)
        if value is None and bound == "max" and name != "time_to_first_reply_p95_ms":
            passed = True  # nothing happened, so nothing went wrong (the "requests" check fails an empty run)
        checks.append(Check(name, limit, value, passed, bound, unit))
    for (key, route), limit in sorted(thresholds.latency.items()):
        value = _route_figure(summary, route, key)
        checks.append(Check(f"{key}.{route}", limit, value, value is not None and value <= limit, "max", " ms"))
    return checks


def run_rules(summary: Mapping[str, Any]) -> list[Check]:
    """The checks every run must pass whatever its thresholds file (the module's docstring)."""
    totals = summary.get("totals", {})
    timeout = summary.get("run", {}).get("request_timeout_s")
    counts = [
        ("timeouts", totals.get("timeout", 0), "requests the target did not answer within --request-timeout "
         "or still waiting when the run ended"),
        ("redirects", totals.get("redirect", 0), "redirects, never followed: an API route does not redirect"),
        ("cleanup_failed", summary.get("cleanup", {}).get("failed", 0),
         "conversations clean-up could not end (they are still open on the target)"),
        ("identity_starved", summary.get("identities", {}).get("starved_waits", 0),
         "users waited for an identity: the run had fewer users than asked (give more with --students)"),
        ("users_crashed", summary.get("users", {}).get("crashed", 0),
         "simulated users crashed: the load was not what was asked (see errors in summary.json)"),
    ]  # fmt: skip
    checks = [Check(name, 0, float(value), value == 0, "max", why=why) for name, value, why in counts]
    if timeout:
        stall = float(totals.get("stall_s", 0.0))
        why = "throughput collapsed: the target stopped answering (requests waited that long and none was answered)"
        limit = round(0.9 * float(timeout), 3)  # timers are not exact: a request timed out is "that long"
        checks.append(Check("stall", limit, stall, stall < limit, "below", " s", why))
    return checks
