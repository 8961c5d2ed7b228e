"""A load run never passes on what it could not see: a target that stops answering, a redirect, a
clean-up that failed, a run short of identities, a crashed user; and a second Ctrl-C still leaves
the reports.

Misbehaviour starts at an exact point of the run (``fixtures/hooks.py``), never after a guessed
delay; a small ``--request-timeout`` keeps the runs short.
"""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import write_target
from canvas_ai_harness.load import LoadOptions, run_load
from canvas_ai_harness.mock import Latency, MockServer
from fixtures.hooks import hold_from, hold_once, redirect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
WAIT = 240  # seconds: bounds a hang, not a speed check


def _missed(summary: dict[str, object], name: str) -> list[str]:
    verdict = summary["verdict"]
    assert isinstance(verdict, dict)
    return [line for line in verdict["missed"] if line.startswith(f"MISSED {name}:")]


def test_a_target_that_stops_answering_mid_run_fails_with_timeouts_a_stall_and_a_failed_clean_up(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(20, 5))
    # Frozen once two conversations are open: clean-up cannot end them either.
    held = hold_from(server, lambda request: server.service.store.active_count >= 2)
    options = LoadOptions(
        target=server.target(),
        users=4,
        spawn_rate=4,
        run_time=10,
        think_scale=0.02,
        teachers=0,
        request_timeout=2,
        report_dir=tmp_path / "report",
        extra_locust_args=("--cleanup-timeout", "3"),
    )
    result = run_load(options)
    assert held.is_set(), "the run never opened two conversations"
    summary = result.summary
    assert result.exit_code == 1, result.render()
    totals = summary["totals"]
    assert totals["timeout"] > 0 and totals["error"] == 0, summary["errors"]
    assert totals["requests"] == sum(
        totals[o] for o in ("ok", "throttled", "ai_unavailable", "contract", "timeout", "redirect", "error")
    )
    assert _missed(summary, "timeouts")
    (stall,) = _missed(summary, "stall")
    assert "throughput collapsed" in stall
    assert summary["cleanup"]["failed"] >= 2
    assert _missed(summary, "cleanup_failed")
    assert "timeouts" in result.render() and "verdict: FAIL" in result.render()


def test_a_healthy_run_has_no_timeout_no_stall_and_passes_the_run_rules(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(20, 5))
    options = LoadOptions(
        target=server.target(), users=4, spawn_rate=4, run_time=4, think_scale=0.02, report_dir=tmp_path / "r"
    )
    result = run_load(options)
    assert result.passed, result.render()
    checks = {c["threshold"]: c for c in result.summary["verdict"]["checks"]}
    for name in ("timeouts", "redirects", "stall", "cleanup_failed", "identity_starved", "users_crashed"):
        assert checks[name]["passed"], checks[name]
    assert result.summary["totals"]["timeout"] == 0


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_host() -> Iterator[tuple[str, type[_Counting]]]:
    """Another server on 127.0.0.1 that counts the requests reaching it."""
    handler = type("Other", (_Counting,), {"hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["other-port", "refused-host"])
def test_a_redirect_is_never_followed_and_fails_the_run(
    where: str,
    other_host: tuple[str, type[_Counting]],
    mock_canvas: Callable[..., MockServer],
    tmp_path: Path,
) -> None:
    url, handler = other_host
    server = mock_canvas(llm_latency=Latency(20, 5))
    base = url if where == "other-port" else "http://canvas.example.invalid"
    redirect(server, lambda request: request.method == "POST" and request.path.endswith("/messages"), base + "/x")
    options = LoadOptions(
        target=server.target(), users=3, spawn_rate=3, run_time=4, think_scale=0.02, report_dir=tmp_path / "r"
    )
    result = run_load(options)
    summary = result.summary
    assert result.exit_code == 1
    assert summary["totals"]["redirect"] > 0
    assert summary["totals"]["error"] == 0, summary["errors"]  # nothing tried to reach the other host
    assert handler.hits == 0
    assert _missed(summary, "redirects")


def test_students_csv_with_fewer_identities_than_users_is_refused_against_the_embedded_mock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    students = tmp_path / "students.csv"
    students.write_text("token\nstudent-a\nstudent-b\n")
    code = main(["load", "--students", str(students), "--users", "5", "--report-dir", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "5 users need 4 student identities but --students" in err and "has 2" in err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_a_second_ctrl_c_still_writes_the_reports_and_exits_130(
    mock_canvas: Callable[..., MockServer], tmp_path: Path
) -> None:
    server = mock_canvas(llm_latency=Latency(20, 5))
    # A DELETE that Canvas never answers: stopping waits for it (and clean-up for its conversation).
    held = hold_once(server, lambda request: request.method == "DELETE")
    write_target(server.target(), tmp_path / "target.toml")
    command = [sys.executable, "-m", "canvas_ai_harness", "load", "--target", str(tmp_path / "target.toml")]
    command += ["--users", "4", "--spawn-rate", "4", "--run-time", "10m", "--think-scale", "0.02"]
    command += ["--report-dir", str(tmp_path / "r")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            assert held.wait(timeout=WAIT), "the run never sent a DELETE"
            process.send_signal(signal.SIGINT)
            assert process.stdout is not None
            for line in process.stdout:  # ends when the process does: bounded by the run's own stop
                if "interrupted: stopping users" in line:
                    break
            process.send_signal(signal.SIGINT)
            # Without the second Ctrl-C, stopping would wait a minute for the held DELETE.
            output, _ = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, output
    report = tmp_path / "r"
    assert (report / "summary.json").exists(), output
    summary = json.loads((report / "summary.json").read_text())
    for name in ("timeline.csv", "timeline.png", "locust.html"):
        assert (report / name).stat().st_size > 0, name
    assert summary["verdict"]["passed"] is False
    assert summary["totals"]["timeout"] >= 1  # the held DELETE: counted, not lost
    assert "cutting clean-up short" in output
