"""The load suite's measures: histogram percentiles, outcome classes, metrics across processes, verdicts."""

from __future__ import annotations

import math
from collections.abc import Callable

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.load.histogram import Histogram, bucket_bounds, bucket_of
from canvas_ai_harness.load.inflight import InFlight
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import classify, success_status
from canvas_ai_harness.load.outcomes import outcome as outcome_of
from canvas_ai_harness.load.report import summarise
from canvas_ai_harness.load.thresholds import DEFAULTS, parse_thresholds

latencies = st.lists(st.floats(min_value=0, max_value=600_000, allow_nan=False), min_size=1, max_size=300)


def _exact(values: list[float], pct: float) -> float:
    ordered = sorted(round(v * 1000) / 1000 for v in values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


@given(latencies, st.sampled_from([50, 90, 95, 99, 99.9, 100]))
@settings(max_examples=200, deadline=None)
def test_histogram_percentiles_are_within_0_4_percent_of_the_exact_sample(values: list[float], pct: float) -> None:
    hist = Histogram()
    for value in values:
        hist.record(value)
    exact = _exact(values, pct)
    assert hist.percentile(pct) == pytest.approx(exact, rel=1 / 256, abs=0.001)


def test_histogram_is_finer_than_locusts_rounding_around_one_second() -> None:
    hist = Histogram()
    for ms in (1234.0, 1249.0, 1261.0):
        hist.record(ms)
    # locust keeps all three as 1200 ms (two significant digits); the histogram keeps them apart.
    assert [hist.percentile(p) for p in (33, 66, 100)] == pytest.approx([1234, 1249, 1261], rel=0.004)


@given(st.integers(min_value=0, max_value=2**40))
def test_every_value_falls_inside_its_bucket(micros: int) -> None:
    low, width = bucket_bounds(bucket_of(micros))
    assert low <= micros < low + width
    assert width == 1 or width / low <= 1 / 128


def test_empty_histogram_has_no_percentile() -> None:
    assert Histogram().percentile(95) is None
    assert Histogram().describe()["p95_ms"] is None


@pytest.mark.parametrize(
    ("operation", "status", "body", "headers", "expected"),
    [
        pytest.param("createConversation", 201, b"{}", None, "ok", id="create-201"),
        pytest.param("createConversation", 200, b"{}", None, "error", id="create-200-is-not-success"),
        pytest.param("postMessage", 200, b"{}", None, "ok", id="post-200"),
        pytest.param("postMessage", 403, bodies.RATE_LIMITED_TEXT.encode(), None, "throttled", id="403-rate-limit"),
        pytest.param("postMessage", 403, b"", {"x-rate-limit-remaining": "0.0"}, "throttled", id="403-empty-bucket"),
        pytest.param("postMessage", 429, b"{}", None, "throttled", id="429"),
        pytest.param("postMessage", 403, b'{"status": "unauthorized"}', None, "error", id="403-not-a-member"),
        pytest.param("postMessage", 503, b'{"error": "x"}', None, "ai_unavailable", id="503"),
        pytest.param("postMessage", 404, b"{}", None, "error", id="404"),
        pytest.param("getActiveConversation", 0, b"", None, "error", id="no-response"),
    ],
)
def test_outcomes_are_classified(
    operation: str, status: int, body: bytes, headers: dict[str, str] | None, expected: str
) -> None:
    assert classify(operation, status, body, headers) == expected


def test_success_statuses_come_from_the_spec() -> None:
    assert success_status("createConversation") == 201
    assert success_status("deleteConversation") == 200
    with pytest.raises(KeyError):
        success_status("noSuchOperation")


def _recorded(metrics: Metrics, now: float) -> None:
    for i in range(50):
        metrics.record("postMessage", 100.0 + i, "ok" if i % 5 else "throttled", now + i / 10)
    metrics.record("createConversation", 900.0, "ai_unavailable", now)
    metrics.conversations["completed"] += 3
    metrics.first_reply.record(1200.0)
    metrics.record_turn(1, 120.0)
    metrics.record_contract(["postMessage 200: the transcript grew by 4 messages"])
    metrics.record("postMessage", 5.0, "contract", now)
    metrics.used_identities({"user:1", "user:2"})


def test_metrics_sent_through_locusts_msgpack_add_up_to_the_same_figures() -> None:
    now = 1_700_000_000.0
    direct = Metrics("worker-0")
    _recorded(direct, now)
    expected = direct.summary(60.0)

    master = Metrics("master")
    worker = Metrics("worker-0")
    _recorded(worker, now)
    first = worker.take()
    master.merge(msgpack.unpackb(msgpack.packb(first), raw=False, strict_map_key=False))
    master.merge(msgpack.unpackb(msgpack.packb(worker.take()), raw=False, strict_map_key=False))  # empty
    assert master.summary(60.0) == expected


def test_an_identity_two_processes_acted_as_is_reported_as_overlap() -> None:
    master = Metrics("master")
    for label, keys in (("worker-0", {"user:1", "user:2"}), ("worker-1", {"user:2", "user:3"})):
        worker = Metrics(label)
        worker.used_identities(keys)
        master.merge(worker.take())
    identities = master.summary(1.0)["identities"]
    assert identities["overlap"] == ["user:2"]
    assert identities["by_process"] == {"worker-0": 2, "worker-1": 2}


def test_rates_count_throttling_and_ai_failures_apart_from_errors() -> None:
    metrics = Metrics()
    for outcome, n in (("ok", 90), ("throttled", 5), ("ai_unavailable", 3), ("error", 2)):
        for _ in range(n):
            metrics.record("postMessage", 10.0, outcome, 0.0)
    totals = metrics.summary(10.0)["totals"]
    assert (totals["error_rate"], totals["throttled_rate"], totals["ai_unavailable_rate"]) == (0.02, 0.05, 0.03)
    assert totals["rps"] == 10.0


def test_verdict_names_each_missed_threshold_with_its_measured_value() -> None:
    metrics = Metrics()
    for i in range(100):
        metrics.record("postMessage", 1000.0 + i * 10, "ok", 0.0)
    metrics.record("postMessage", 5.0, "error", 0.0)
    thresholds = parse_thresholds({"error_rate": 0.001, "p95_ms": {"postMessage": 1500, "all": 3000}})
    summary = summarise(metrics, 60.0, {}, thresholds)
    assert summary["verdict"]["passed"] is False
    missed = summary["verdict"]["missed"]
    assert len(missed) == 2
    assert missed[0].startswith("MISSED error_rate: measured 0.0099")
    assert missed[1].startswith("MISSED p95_ms.postMessage: measured 19") and "at most 1500 ms" in missed[1]
    measured = summary["verdict"]["checks"][-1]["measured"]
    assert measured == pytest.approx(1940, rel=0.004)  # the 95th of 100 values, 1000..1990


def test_a_run_without_requests_fails_whatever_the_thresholds() -> None:
    summary = summarise(Metrics(), 10.0, {}, DEFAULTS)
    assert summary["verdict"]["missed"] == ["MISSED requests: measured 0, threshold at least 1"]


def test_a_latency_threshold_on_a_route_the_run_never_called_is_missed() -> None:
    metrics = Metrics()
    metrics.record("postMessage", 5.0, "ok", 0.0)
    summary = summarise(metrics, 10.0, {}, parse_thresholds({"p99_ms": {"getConversation": 100}}))
    assert summary["verdict"]["missed"] == ["MISSED p99_ms.getConversation: measured nothing, threshold at most 100 ms"]


def test_minimum_thresholds_fail_below_them() -> None:
    metrics = Metrics()
    metrics.record("deleteConversation", 5.0, "ok", 0.0)
    metrics.conversations["completed"] += 1
    summary = summarise(metrics, 120.0, {}, parse_thresholds({"min_conversations_per_minute": 2}))
    assert summary["verdict"]["missed"] == ["MISSED min_conversations_per_minute: measured 0.5, threshold at least 2"]


# -- the run rules: what fails a run whatever its thresholds -------------------------------------


def _healthy() -> Metrics:
    metrics = Metrics()
    for _ in range(10):
        metrics.record("postMessage", 50.0, "ok", 0.0)
    return metrics


def test_a_healthy_run_passes_every_run_rule() -> None:
    summary = summarise(_healthy(), 10.0, {"request_timeout_s": 60.0}, DEFAULTS)
    assert summary["verdict"]["passed"], summary["verdict"]["missed"]


_SPOILS: dict[str, Callable[[Metrics], None]] = {
    "timeouts": lambda m: m.record("postMessage", 2000.0, "timeout", 0.0),
    "redirects": lambda m: m.record("postMessage", 5.0, "redirect", 0.0),
    "cleanup_failed": lambda m: m.counters.update(cleanup_failed=9),
    "identity_starved": lambda m: m.counters.update(identity_starved=6),
    "users_crashed": lambda m: m.counters.update(user_crashed=1),
    "stall": lambda m: setattr(m, "stall_s", 58.0),
}


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("timeouts", "did not answer", id="timeout"),
        pytest.param("redirects", "never followed", id="redirect"),
        pytest.param("cleanup_failed", "still open", id="cleanup"),
        pytest.param("identity_starved", "waited for an identity", id="starved"),
        pytest.param("users_crashed", "crashed", id="crashed"),
        pytest.param("stall", "throughput collapsed", id="stall"),
    ],
)
def test_each_run_rule_fails_the_run_whatever_the_thresholds_file(name: str, says: str) -> None:
    metrics = _healthy()
    _SPOILS[name](metrics)
    # A lenient thresholds file does not excuse any of them.
    lenient = parse_thresholds({"error_rate": 1})
    summary = summarise(metrics, 10.0, {"request_timeout_s": 60.0}, lenient)
    assert summary["verdict"]["passed"] is False
    (line,) = summary["verdict"]["missed"]
    assert line.startswith(f"MISSED {name}:") and says in line


def test_timeouts_and_redirects_are_outcomes_of_their_own() -> None:
    assert outcome_of("postMessage", 0, "canvas_error", timed_out=True) == "timeout"
    assert outcome_of("getActiveConversation", 302, "canvas_error") == "redirect"
    assert outcome_of("getActiveConversation", 0, "canvas_error") == "error"


def test_a_stall_is_the_longest_stretch_with_requests_waiting_and_none_answered() -> None:
    waiting = InFlight()
    a = waiting.begin(0.0)
    b = waiting.begin(1.0)
    waiting.end(a, 3.0, answered=True)  # 3 s without an answer
    assert waiting.stall(3.0) == 3.0
    c = waiting.begin(4.0)
    waiting.end(b, 4.5, answered=True)  # 1.5 s since the last answer
    waiting.end(c, 5.0, answered=True)
    assert waiting.stall(100.0) == 3.0  # idle: nothing waits, nothing stalls
    d = waiting.begin(100.0)
    waiting.end(d, 110.0, answered=False)  # a timeout is no answer
    e = waiting.begin(110.0)
    assert waiting.stall(125.0) == 15.0  # still waiting: the current stretch counts
    assert waiting.waiting() == 1 and waiting.oldest() == 110.0
    waiting.end(e, 126.0, answered=False)
    assert waiting.stall(200.0) == 16.0
