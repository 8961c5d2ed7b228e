"""Short, bounded load runs against the mock on 127.0.0.1: verdicts, outcome classes, identities, clean-up.

Each run is a few seconds of a few users; locust runs in subprocesses started by ``run_load``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canvas_ai_harness.config import write_target
from canvas_ai_harness.load import LoadOptions, run_load
from canvas_ai_harness.mock import Latency, ThrottleConfig, world
from fixtures.custom_servers import StartCanvas
from fixtures.hooks import LONG_TOKEN, fragments, quote_token
from fixtures.load import QUICK, RunLoad, active_conversations
from fixtures.signals import as_background_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
WAIT = 240  # seconds: bounds a hang, not a speed check


def test_run_passes_its_thresholds_writes_reports_and_ends_every_conversation(
    start_canvas: StartCanvas, tmp_path: Path
) -> None:
    canvas = start_canvas(llm_latency=Latency(30, 5))
    (tmp_path / "t.toml").write_text(
        "error_rate = 0\ncontract_violations = 0\nmin_conversations_per_minute = 1\n"
        "[p95_ms]\npostMessage = 2000\nall = 2000\n"
    )
    options = LoadOptions(
        target=canvas.target,
        users=6,
        spawn_rate=6,
        run_time=4,
        think_scale=0.005,  # a long message takes 1.7 s to type at 0.02: short enough to end some conversations
        contract_sample=1.0,  # check every response against the contract
        thresholds=tmp_path / "t.toml",
        report_dir=tmp_path / "report",
    )
    result = run_load(options)
    assert result.passed, result.render()
    summary = result.summary
    assert summary["totals"]["ok"] == summary["totals"]["requests"] > 0
    assert summary["contract"]["sampled"] == summary["totals"]["requests"]
    assert summary["conversations"]["completed"] > 0
    assert summary["conversations"]["time_to_first_reply"]["count"] > 0
    assert "1" in summary["conversations"]["turn_latency"]
    assert {"postMessage", "createConversation", "getActiveConversation"} <= set(summary["routes"])
    assert summary["identities"]["overlap"] == []
    for name in ("locust.html", "locust_stats.csv", "summary.json", "timeline.csv", "timeline.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0, name
    assert active_conversations(canvas) == 0
    assert summary["cleanup"]["failed"] == 0


def test_slow_mock_misses_the_p95_threshold_and_exits_1(
    start_canvas: StartCanvas, load_run: RunLoad, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = start_canvas(llm_latency=Latency(700, 20))
    code, summary = load_run(canvas, *QUICK, thresholds="[p95_ms]\npostMessage = 300\n")
    assert code == 1
    measured = summary["routes"]["postMessage"]["p95_ms"]
    assert measured > 600
    out = capsys.readouterr().out
    assert "MISSED p95_ms.postMessage: measured" in out and "threshold at most 300 ms" in out
    assert summary["verdict"]["passed"] is False


def test_failing_ai_is_counted_as_ai_unavailable_not_as_errors(
    start_canvas: StartCanvas, load_run: RunLoad, tmp_path: Path
) -> None:
    canvas = start_canvas(llm_failure_rate=0.4, llm_latency=Latency(20, 5))
    # Identities by masquerading: user ids and the target's admin token.
    students = canvas.http.post("/__harness__/students", params={"count": 8, "course_id": 101}).json()
    with (tmp_path / "students.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id"])
        writer.writerows([s["id"]] for s in students)
    code, summary = load_run(canvas, *QUICK, "--students", str(tmp_path / "students.csv"))
    totals = summary["totals"]
    assert totals["ai_unavailable"] > 0
    assert totals["error"] == 0, summary["errors"]
    assert code == 0  # the default thresholds bound errors, and 503s are not errors
    failures = (tmp_path / "report" / "locust_failures.csv").read_text()
    assert "AI service unavailable: 503" in failures
    assert summary["run"]["identity_source"].startswith("csv:")
    assert active_conversations(canvas) == 0


def test_throttling_is_counted_as_throttling_not_as_errors(start_canvas: StartCanvas, load_run: RunLoad) -> None:
    canvas = start_canvas(throttle=ThrottleConfig(capacity=100, outflow=10, upfront=50, cost=40))
    code, summary = load_run(canvas, *QUICK, "--teachers", "0", thresholds="error_rate = 0\nthrottled_rate = 0.01\n")
    totals = summary["totals"]
    assert totals["throttled"] > 0
    assert totals["error"] == 0, summary["errors"]
    assert code == 1
    assert any(line.startswith("MISSED throttled_rate") for line in summary["verdict"]["missed"])
    assert active_conversations(canvas) == 0  # clean-up backs off and retries through the throttling


def test_two_worker_processes_never_share_an_identity(start_canvas: StartCanvas, load_run: RunLoad) -> None:
    canvas = start_canvas(llm_latency=Latency(20, 5))
    code, summary = load_run(canvas, *QUICK, "--users", "12", "--spawn-rate", "12", "--processes", "2")
    assert code == 0, summary.get("verdict")
    identities = summary["identities"]
    workers = {label: n for label, n in identities["by_process"].items() if label.startswith("worker")}
    assert len(workers) == 2 and all(n > 0 for n in workers.values()), identities
    assert identities["overlap"] == []
    assert identities["distinct"] == sum(workers.values())
    assert summary["totals"]["error"] == 0  # two users on one student would close each other's conversations
    assert summary["run"]["workers"] == 2
    assert active_conversations(canvas) == 0


@pytest.mark.parametrize(
    ("sig", "background"),
    [
        pytest.param(signal.SIGINT, False, id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        # A CI job started in the background: SIGINT is ignored from the start, and the run must
        # still stop locust (which it stops with SIGINT) long before its run time.
        pytest.param(signal.SIGTERM, True, id="sigterm-background-job"),
    ],
)
def test_interrupted_run_still_ends_every_conversation_it_opened(
    sig: signal.Signals, background: bool, start_canvas: StartCanvas, tmp_path: Path
) -> None:
    canvas = start_canvas(llm_latency=Latency(20, 5))
    target = tmp_path / "target.toml"
    write_target(canvas.target, target)
    command = [sys.executable, "-m", "canvas_ai_harness", "load", "--target", str(target), "--users", "8"]
    command += ["--spawn-rate", "8", "--run-time", "10m", "--think-scale", "0.3", "--report-dir", str(tmp_path / "r")]
    with as_background_job() if background else contextlib.nullcontext():
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with process:
        try:
            deadline = time.monotonic() + WAIT
            while active_conversations(canvas) < 4:  # students are mid-conversation, thinking
                assert time.monotonic() < deadline, "the run never opened conversations"
                assert process.poll() is None, process.communicate()
                time.sleep(0.2)
            process.send_signal(sig)
            # The run lasts ten minutes unless the signal stops it: this bounds a hang only.
            out, err = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    assert active_conversations(canvas) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["cleanup"]["closed"] >= 4
    assert summary["run"]["interrupted"] is True
    page = (tmp_path / "r" / "load-report.html").read_text(encoding="utf-8")
    assert 'data-verdict="INTERRUPTED"' in page and 'data-exit-code="130"' in page
    assert "mock-student-token" not in out + err  # tokens never printed


def test_without_a_target_the_embedded_mock_is_tested(load_run: RunLoad, tmp_path: Path) -> None:
    code, summary = load_run(None, "--users", "3", "--spawn-rate", "3", "--run-time", "3s", "--think-scale", "0.02")
    assert code == 0, summary.get("verdict")
    assert summary["run"]["identity_source"] == "mock-world"
    assert summary["totals"]["ok"] > 0
    # Realistic AI latency: around a second per reply.
    assert summary["routes"]["createConversation"]["p50_ms"] > 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--host", "http://0.0.0.0:9"], "refusing to load-test 0.0.0.0", id="non-loopback-host"),
        pytest.param(
            ["--host", "http://127.0.0.1:9", "--shape", "spike", "--spike-base", "2"],
            "spike base and spike-at are shares",
            id="bad-shape-option",
        ),
    ],
)
def test_plain_locust_refuses_before_its_first_request(args: list[str], message: str) -> None:
    locustfile = Path(__file__).resolve().parents[1] / "load" / "locustfile.py"
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "2", "-r", "2", "-t", "10m"]
    # A ten-minute run: ending within WAIT means it stopped at once, not at the end of its run time.
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stdout + result.stderr
    assert "getActiveConversation" not in result.stdout  # no request was made, so none is in locust's table


def test_a_token_quoted_in_an_error_body_leaves_no_fragment_in_the_reports(
    start_canvas: StartCanvas, load_run: RunLoad, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Canvas quotes the student's token in each create's error, across the 200th character,
    # where the load suite shortens an error body.
    canvas = start_canvas(llm_latency=Latency(5, 1))
    quote_token(canvas.server, LONG_TOKEN, world.STUDENT_TOKEN, lambda r: r.method == "POST", at=200)
    (tmp_path / "students.csv").write_text(f"token\n{LONG_TOKEN}\n")

    code, summary = load_run(
        canvas, *QUICK, "--users", "1", "--teachers", "0", "--students", str(tmp_path / "students.csv")
    )

    assert code == 1 and summary["totals"]["error"] > 0
    written = [capsys.readouterr().out] + [p.read_text(errors="replace") for p in (tmp_path / "report").iterdir()]
    assert not {piece for piece in fragments(LONG_TOKEN) for text in written if piece in text}
    assert any("[REDACTED]" in key for key in summary["errors"])
