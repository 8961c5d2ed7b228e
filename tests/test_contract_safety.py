"""Safe against a live Canvas: the AI-call budget holds, throttling slows the run down and is
never a failure, every conversation the run created is ended (also after Ctrl-C), and an
interrupted run still writes its reports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_ai_harness.config import write_target
from canvas_ai_harness.contract.client import is_throttled
from canvas_ai_harness.contract.limits import BudgetExhausted, LLMBudget, Pacer
from canvas_ai_harness.mock import MockServer, ThrottleConfig
from canvas_ai_harness.mock.world import STUDENT_TOKEN
from fixtures.contract import RunContract
from fixtures.hooks import hold_once, intrude_after

AI_ROUTES = ("/conversations", "/messages")
WAIT = 240  # seconds: bounds a hang, not a speed check (a busy machine starts the suite slowly)


def _ai_calls(server: MockServer) -> int:
    """Requests the mock answered that reached its fake AI (creates and post_messages)."""
    return sum(
        1
        for c in server.service.calls
        if c.method == "POST" and c.path.endswith(AI_ROUTES) and (200 <= c.status < 300 or c.status == 503)
    )


def test_a_run_ends_every_conversation_it_created(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()

    run = contract_run(
        server, modules=("test_lifecycle.py", "test_transcript.py", "test_visibility.py", "test_references.py")
    )

    assert run.code == 0, run.output
    assert server.service.store.active_count == 0
    cleanup = run.report["cleanup"]
    assert cleanup["conversations_created"] > 10 and cleanup["left_open"] == []


def test_the_ai_call_budget_is_never_exceeded(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()

    run = contract_run(server, modules=("test_transcript.py", "test_input.py"), max_llm_calls=6)

    assert _ai_calls(server) <= 6
    assert run.report["llm_calls"] == {"used": 6, "limit": 6, "generated_cases_not_sent": 0}
    assert run.code == 1  # checks the user asked for could not run
    assert "Could not run" in run.summary and "--max-llm-calls" in run.summary
    assert server.service.store.active_count == 0


def test_generated_cases_stay_within_their_share_of_the_budget(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()

    run = contract_run(server, modules=("test_operations.py",), max_llm_calls=12, max_examples=5)

    assert run.code == 0, run.output
    assert _ai_calls(server) <= 12
    assert run.report["llm_calls"]["generated_cases_not_sent"] > 0
    assert "generated cases not sent to stay within it" in run.summary


def test_throttling_is_retried_and_never_reported_as_a_break(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    # Each request costs 200 of a 1000-unit bucket (400 while in flight), which drains 2000 units a
    # second: five quick requests overflow it, while X-Rate-Limit-Remaining still looks comfortable.
    server = mock_canvas(throttle=ThrottleConfig(capacity=1000, outflow=2000, upfront=400, cost=200))

    run = contract_run(server, modules=("test_lifecycle.py", "test_transcript.py"))

    assert run.code == 0, run.output
    assert run.report["requests"]["throttled_retries"] > 0
    assert any(c.status == 403 for c in server.service.calls)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "throttled"),
    [
        pytest.param(403, "text/plain", "403 Forbidden (Rate Limit Exceeded)", True, id="canvas-403"),
        pytest.param(429, "text/plain", "429 Too Many Requests (Rate Limit Exceeded)", True, id="docs-429"),
        pytest.param(403, "application/json", '{"status": "unauthorized"}', False, id="forbidden-json"),
        pytest.param(429, "application/json", '{"code": "rate_limited"}', False, id="daily-limit-json"),
        pytest.param(200, "text/plain", "Rate Limit Exceeded", False, id="ok"),
    ],
)
def test_throttling_is_told_from_contract_answers(status: int, content_type: str, body: str, throttled: bool) -> None:
    assert is_throttled(status, {"content-type": content_type}, body) is throttled


def test_the_budget_charges_refunds_and_stops_at_its_limit() -> None:
    budget = LLMBudget(2)
    budget.charge()
    budget.charge()
    budget.refund()
    budget.charge()

    with pytest.raises(BudgetExhausted, match="--max-llm-calls"):
        budget.charge()
    assert (budget.used, budget.remaining, budget.share(2)) == (2, 0, 0)
    assert LLMBudget(None).share(3) is None


def test_the_pacer_spaces_requests_and_slows_down_after_throttling() -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(round(seconds, 3))
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()
    pacer.wait()
    pacer.throttled()
    pacer.wait()

    assert pauses == [0.25, 0.5]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_writes_its_reports_and_ends_its_conversations(
    sig: signal.Signals, tmp_path: Path, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    # Interrupt the run mid-way and between two AI calls: while Canvas holds a GET, once five
    # AI calls (conversations to end) have been answered.
    held = hold_once(server, lambda request: request.method == "GET" and _ai_calls(server) >= 5)
    write_target(server.target(), tmp_path / "target.toml")
    command = [sys.executable, "-m", "canvas_ai_harness", "contract", "--target", str(tmp_path / "target.toml")]
    command += ["--report-dir", str(tmp_path / "reports"), "--junit-xml", str(tmp_path / "junit.xml"), "--seed", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        try:
            assert held.wait(timeout=WAIT), "the run never reached a GET after five AI calls"
            process.send_signal(sig)
            output, _ = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()

    assert process.returncode == 130, output.decode()
    report = json.loads((tmp_path / "reports" / "contract-report.json").read_text())
    assert report["outcome"] == "interrupted" and report["exit_code"] == 130
    page = (tmp_path / "reports" / "contract-report.html").read_text("utf-8")
    assert 'data-verdict="INTERRUPTED"' in page and 'data-exit-code="130"' in page
    assert (tmp_path / "junit.xml").is_file()
    assert server.service.store.active_count == 0
    assert report["cleanup"]["left_open"] == []


def test_a_create_interrupted_in_flight_is_asked_about_and_ended(
    tmp_path: Path, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    # Hold a create once five AI calls were answered: the mock has already opened the
    # conversation, the run never hears of it, and Ctrl-C arrives while it waits.
    held = hold_once(
        server,
        lambda request: request.method == "POST" and request.path.endswith("/conversations") and _ai_calls(server) >= 5,
    )
    write_target(server.target(), tmp_path / "target.toml")
    command = [sys.executable, "-m", "canvas_ai_harness", "contract", "--target", str(tmp_path / "target.toml")]
    command += ["--report-dir", str(tmp_path / "reports"), "--seed", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        try:
            assert held.wait(timeout=WAIT), "the run never sent a create after five AI calls"
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()

    assert process.returncode == 130, output.decode()
    report = json.loads((tmp_path / "reports" / "contract-report.json").read_text())
    assert server.service.store.active_count == 0
    assert report["cleanup"]["left_open"] == [] and report["cleanup"]["unconfirmed_creates"] == []
    assert report["cleanup"]["closed_at_end"] >= 1  # the held create's conversation, ended


@pytest.mark.parametrize(
    "after",
    [  # where, with seed 1, the run next meets the intruder's conversation (without this check: a false break);
        # counted after the preflight (tests/fixtures/hooks.py), from the session's one reachability probe on
        pytest.param(3, id="seen-as-the-active-conversation"),
        pytest.param(7, id="own-conversation-refused-on-destroy"),
        pytest.param(18, id="own-conversation-refused-on-post-message"),
    ],
)
def test_another_run_on_the_same_accounts_is_a_setup_problem_not_a_break(
    after: int, contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    intruded = intrude_after(server, after, STUDENT_TOKEN)

    run = contract_run(server, modules=("test_lifecycle.py", "test_transcript.py"))

    assert intruded.is_set()
    assert run.code == 2, run.summary
    assert run.report["failures"] == []  # nothing blamed on Canvas
    assert "Result: SETUP PROBLEM: another run or user is using these accounts" in run.summary
    assert "tokens.student" in run.summary
    assert "<failure" not in run.junit  # JUnit: a harness error, no check failed
    assert '<testcase classname="harness" name="accounts-not-in-use"' in run.junit


def test_a_run_alone_on_its_accounts_is_not_a_clash(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    run = contract_run(mock_canvas(), modules=("test_lifecycle.py", "test_transcript.py"))

    assert run.code == 0 and "SETUP PROBLEM" not in run.summary
