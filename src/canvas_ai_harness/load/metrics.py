"""What a load run measures, in a form that adds up across worker processes.

Each locust process records into its own ``Metrics``; workers send what they recorded since
their last report (``take()``) to the master, which ``merge()``s it, so the master ends with the
whole run's figures however many workers (or machines) there were. Nothing here imports locust.

Per route (operationId): outcomes (``outcomes.py``) and the latency of successful responses, in
``Histogram``s (0.4 % precision). Per conversation: time to the first assistant reply, turn
latency by turn number, conversations started, resumed, completed (ended by the student) and
left open. Per second: the same per-route figures, and the number of users, for the charts
and ``timeline.csv`` (every second of the run, zeros where nothing happened).
Also: contract samples and violations, error examples, which identities each process acted
as (to prove no two processes shared one), what clean-up closed, users that crashed, and the
longest stall (``inflight.py``: requests waiting and none answered; merged as the maximum).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from canvas_ai_harness.load.histogram import Histogram
from canvas_ai_harness.load.outcomes import (
    AI_UNAVAILABLE,
    CONTRACT,
    ERROR,
    OK,
    OUTCOMES,
    REDIRECT,
    THROTTLED,
    TIMEOUT,
)

__all__ = ["Metrics"]

_MAX_EXAMPLES = 20
_MAX_ERROR_KINDS = 50


class _RouteSeries:
    __slots__ = ("latency", "outcomes")

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.latency = Histogram()


class Metrics:
    """Everything one process (or, merged, the whole run) measured."""

    def __init__(self, label: str = "local") -> None:
        self.label = label
        self.reset()

    def reset(self) -> None:
        self.routes: dict[str, _RouteSeries] = {}
        self.seconds: dict[int, dict[str, _RouteSeries]] = {}
        self.users: dict[int, int] = {}
        self.conversations: Counter[str] = Counter()
        self.first_reply = Histogram()
        self.turns: dict[int, Histogram] = {}
        self.contract_sampled = 0
        self.contract_examples: list[str] = []
        self.errors: Counter[str] = Counter()
        self.identities: dict[str, set[str]] = {}
        self.counters: Counter[str] = Counter()  # cleanup and other process events
        self.stall_s = 0.0  # the longest stretch with requests waiting and none answered

    # -- recording ----------------------------------------------------------------------------
    def record(self, route: str, millis: float, outcome: str, now: float) -> None:
        """One response (or failed attempt) on ``route`` at wall-clock time ``now``."""
        series = self.routes.get(route)
        if series is None:
            series = self.routes[route] = _RouteSeries()
        second = self.seconds.get(int(now))
        if second is None:
            second = self.seconds[int(now)] = {}
        point = second.get(route)
        if point is None:
            point = second[route] = _RouteSeries()
        series.outcomes[outcome] += 1
        point.outcomes[outcome] += 1
        if outcome == OK:
            series.latency.record(millis)
            point.latency.record(millis)

    def record_error(self, message: str) -> None:
        if message in self.errors or len(self.errors) < _MAX_ERROR_KINDS:
            self.errors[message] += 1

    def record_contract(self, problems: list[str]) -> None:
        """One sampled response was checked; a violating one is also ``record()``-ed as ``contract``."""
        self.contract_sampled += 1
        if problems and len(self.contract_examples) < _MAX_EXAMPLES:
            self.contract_examples.append(problems[0])

    def record_turn(self, turn: int, millis: float) -> None:
        hist = self.turns.get(turn)
        if hist is None:
            hist = self.turns[turn] = Histogram()
        hist.record(millis)

    def record_users(self, now: float, users: int) -> None:
        self.users[int(now)] = users

    def used_identities(self, keys: set[str]) -> None:
        if keys:
            self.identities.setdefault(self.label, set()).update(keys)

    # -- moving between processes -------------------------------------------------------------
    def take(self) -> dict[str, Any]:
        """What was recorded since the last ``take()``, as plain data; the recorder starts afresh."""
        data = {
            "routes": {r: _series_wire(s) for r, s in self.routes.items()},
            "seconds": [[t, {r: _series_wire(s) for r, s in routes.items()}] for t, routes in self.seconds.items()],
            "users": [[t, n] for t, n in self.users.items()],
            "conversations": dict(self.conversations),
            "first_reply": self.first_reply.to_wire(),
            "turns": [[t, h.to_wire()] for t, h in self.turns.items()],
            "contract_sampled": self.contract_sampled,
            "contract_examples": list(self.contract_examples),
            "errors": dict(self.errors),
            "identities": {label: sorted(keys) for label, keys in self.identities.items()},
            "counters": dict(self.counters),
            "stall_s": self.stall_s,
        }
        label = self.label
        self.reset()
        self.label = label
        return data

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add what another process ``take()``-s."""
        for route, wire in data.get("routes", {}).items():
            _merge_series(self.routes.setdefault(route, _RouteSeries()), wire)
        for t, routes in data.get("seconds", []):
            second = self.seconds.setdefault(int(t), {})
            for route, wire in routes.items():
                _merge_series(second.setdefault(route, _RouteSeries()), wire)
        for t, n in data.get("users", []):
            self.users[int(t)] = self.users.get(int(t), 0) + int(n)
        self.conversations.update(data.get("conversations", {}))
        self.first_reply.merge(Histogram.from_wire(data.get("first_reply", {})))
        for turn, wire in data.get("turns", []):
            self.turns.setdefault(int(turn), Histogram()).merge(Histogram.from_wire(wire))
        self.contract_sampled += int(data.get("contract_sampled", 0))
        room = _MAX_EXAMPLES - len(self.contract_examples)
        self.contract_examples += list(data.get("contract_examples", []))[: max(room, 0)]
        for message, n in data.get("errors", {}).items():
            if message in self.errors or len(self.errors) < _MAX_ERROR_KINDS:
                self.errors[message] += int(n)
        for label, keys in data.get("identities", {}).items():
            self.identities.setdefault(label, set()).update(keys)
        self.counters.update(data.get("counters", {}))
        self.stall_s = max(self.stall_s, float(data.get("stall_s", 0.0)))

    # -- figures ------------------------------------------------------------------------------
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for series in self.routes.values():
            total.update(series.outcomes)
        return total

    def summary(self, duration: float) -> dict[str, Any]:
        """The run's figures (``duration`` in seconds); ``report.py`` adds the verdict and run facts."""
        duration = max(duration, 1e-9)
        minutes = duration / 60.0
        totals = self.totals()
        requests = sum(totals.values())
        all_latency = Histogram()
        routes: dict[str, Any] = {}
        for route in sorted(self.routes):
            series = self.routes[route]
            count = sum(series.outcomes.values())
            all_latency.merge(series.latency)
            routes[route] = {
                "requests": count,
                "rps": round(count / duration, 3),
                "outcomes": {o: series.outcomes.get(o, 0) for o in OUTCOMES},
                "failure_rate": _rate(count - series.outcomes.get(OK, 0), count),
                **series.latency.describe(),
            }
        conv = self.conversations
        turn_figures = {str(t): self.turns[t].describe() for t in sorted(self.turns)}
        overlap = _overlap(self.identities)
        return {
            "totals": {
                "requests": requests,
                "rps": round(requests / duration, 3),
                **{o: totals.get(o, 0) for o in OUTCOMES},
                "error_rate": _rate(totals.get(ERROR, 0), requests),
                "throttled_rate": _rate(totals.get(THROTTLED, 0), requests),
                "ai_unavailable_rate": _rate(totals.get(AI_UNAVAILABLE, 0), requests),
                "contract_rate": _rate(totals.get(CONTRACT, 0), requests),
                "timeout_rate": _rate(totals.get(TIMEOUT, 0), requests),
                "redirect_rate": _rate(totals.get(REDIRECT, 0), requests),
                "stall_s": round(self.stall_s, 3),
            },
            "users": {"crashed": self.counters.get("user_crashed", 0)},
            "routes": routes,
            "all": all_latency.describe(),
            "conversations": {
                "started": conv.get("started", 0),
                "resumed": conv.get("resumed", 0),
                "restarted": conv.get("restarted", 0),
                "completed": conv.get("completed", 0),
                "left_open": conv.get("left_open", 0),
                "not_saved": conv.get("not_saved", 0),
                "completed_per_minute": round(conv.get("completed", 0) / minutes, 3),
                "time_to_first_reply": self.first_reply.describe(),
                "turn_latency": turn_figures,
            },
            "contract": {
                "sampled": self.contract_sampled,
                "violations": totals.get(CONTRACT, 0),
                "examples": self.contract_examples,
            },
            "errors": dict(self.errors.most_common()),
            "identities": {
                "by_process": {label: len(keys) for label, keys in sorted(self.identities.items())},
                "distinct": len(set().union(*self.identities.values())) if self.identities else 0,
                "overlap": overlap,
                "starved_waits": self.counters.get("identity_starved", 0),
            },
            "cleanup": {
                "closed": self.counters.get("cleanup_closed", 0),
                "already_closed": self.counters.get("cleanup_gone", 0),
                "failed": self.counters.get("cleanup_failed", 0),
                "cut_short": bool(self.counters.get("cleanup_cut_short", 0)),
            },
        }

    def span(self) -> tuple[int, int] | None:
        """The first and last second anything was recorded in (requests or users), or ``None``."""
        seconds = set(self.seconds) | set(self.users)
        return (min(seconds), max(seconds)) if seconds else None

    def users_at(self, start: int, end: int) -> list[int]:
        """The number of users in each second from ``start`` to ``end``, the last sample carried forward."""
        users, current = [], 0
        for t in range(start, end + 1):
            current = self.users.get(t, current)
            users.append(current)
        return users

    def timeline(self, start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
        """One row per second of the run and route, zeros where nothing happened.

        ``start``/``end`` (epoch seconds) bound the run; without them, the recorded span. Each row
        has ``elapsed_s`` (seconds since ``start``), ``time`` (epoch), requests by outcome, p50/p95
        of the successes and the users. A second with no request has one row per route seen.
        """
        span = self.span()
        if span is None:
            return []
        first = int(start) if start is not None else span[0]
        last = max(int(end) if end is not None else span[1], first)
        routes = sorted(self.routes) or [""]
        rows = []
        for t, users in zip(range(first, last + 1), self.users_at(first, last), strict=True):
            second = self.seconds.get(t, {})
            for route in routes:
                series = second.get(route)
                outcomes = series.outcomes if series is not None else {}
                latency = series.latency if series is not None else None
                rows.append(
                    {
                        "elapsed_s": t - first,
                        "time": t,
                        "route": route,
                        **{o: outcomes.get(o, 0) for o in OUTCOMES},
                        "p50_ms": latency.percentile(50) if latency else None,
                        "p95_ms": latency.percentile(95) if latency else None,
                        "users": users,
                    }
                )
        return rows


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _series_wire(series: _RouteSeries) -> dict[str, Any]:
    return {"o": dict(series.outcomes), "l": series.latency.to_wire()}


def _merge_series(series: _RouteSeries, wire: Mapping[str, Any]) -> None:
    series.outcomes.update(wire.get("o", {}))
    series.latency.merge(Histogram.from_wire(wire.get("l", {})))


def _overlap(identities: Mapping[str, set[str]]) -> list[str]:
    """Keys that more than one process acted as (must be empty)."""
    seen: Counter[str] = Counter()
    for keys in identities.values():
        seen.update(keys)
    return sorted(k for k, n in seen.items() if n > 1)
