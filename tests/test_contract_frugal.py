"""Frugal against a live Canvas: profile ended allows each user 100 creates and 1,000 messages a
day, so a run creates only where a rule needs a new conversation, keeps to ``--max-creates``,
spreads its creates over the target's students, prints what it will cost before its first
request and reports what Canvas said is left; a run that meets the daily limit says so and never
crashes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.cli import main
from canvas_ai_harness.exits import EXIT_USAGE
from canvas_ai_harness.mock import MockServer
from fixtures.contract import RunContract

DEFAULT = {"max_examples": 10, "max_steps": 6}  # a default run's size (the fixture's are smaller)
DAILY_CREATES = answers.PROFILES["ended"].daily_create_limit or 0
SNAPSHOT_CREATES = 30  # room a snapshot of the same day may need


def _creates(server: MockServer, token: str, count: int) -> list[int]:
    """Create ``count`` conversations as ``token`` straight at the mock; the statuses it answered."""
    path = server.target().path()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        return [http.post(path).status_code for _ in range(count)]


def _met_daily_limit(server: MockServer) -> bool:
    return any(c.status == 429 for c in server.service.calls)


def test_two_default_runs_and_a_snapshot_fit_in_one_students_daily_allowance(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended")
    target = server.target()
    assert target.tokens.students == ()  # one student account carries it all

    runs = [contract_run(server, **DEFAULT) for _ in range(2)]

    for run in runs:
        assert run.code == 0, run.summary
        assert run.report["daily_allowance"]["student"]["creates"]["left"] == "unknown"
        assert run.report["creates"]["used"] <= run.report["cost_estimate"]["creates"]  # the estimate holds
    assert not _met_daily_limit(server)
    used = sum(run.report["daily_allowance"]["student"]["creates"]["used"] for run in runs)
    assert used <= DAILY_CREATES - SNAPSHOT_CREATES, used
    assert set(_creates(server, target.tokens.student, SNAPSHOT_CREATES)) == {201}  # the snapshot's room is there


def test_a_run_that_meets_the_daily_limit_says_so_and_never_crashes(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended")
    student = server.target().tokens.student
    assert set(_creates(server, student, DAILY_CREATES)) == {201}  # an earlier run spent the day's creates

    run = contract_run(server, modules=("test_references.py", "test_lifecycle.py", "test_input.py"))

    assert run.code == 1, run.summary  # checks could not run: never a pass, never the target's fault
    assert run.report["errors"] == [] and run.report["failures"] == []
    assert "KeyError" not in run.output and "KeyError" not in run.summary
    could_not_run = [t for t in run.report["tests"] if t["incomplete"]]
    assert could_not_run and all("daily limit" in t["reason"] for t in could_not_run)
    assert "student hit Canvas's daily limit for creates (429 rate_limited)" in run.summary
    left = run.report["daily_allowance"]["student"]["creates"]["left"]
    assert left.startswith("0 left (429 rate_limited; reference_id ")
    assert run.report["cleanup"]["left_open"] == []


def test_the_create_budget_is_never_exceeded(contract_run: RunContract, mock_canvas: Callable[..., MockServer]) -> None:
    server = mock_canvas()

    run = contract_run(server, modules=("test_lifecycle.py", "test_transcript.py"), max_creates=2)

    created = [c for c in server.service.calls if c.method == "POST" and c.path.endswith("/conversations")]
    assert len([c for c in created if c.status == 201]) <= 2
    assert run.report["creates"] == {"used": 2, "limit": 2}
    assert run.code == 1
    assert "Could not run" in run.summary and "--max-creates" in run.summary


def test_creates_are_spread_over_the_target_files_students(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended", students=2)  # as `mock --more-students 2 --write-target` writes it
    extra = server.target().tokens.students
    assert len(extra) == 2

    run = contract_run(server, modules=("test_lifecycle.py", "test_profiles.py", "test_transcript.py"))

    assert run.code == 0, run.summary
    allowance = run.report["daily_allowance"]
    used = {name: allowance[name]["creates"]["used"] for name in ("student", "student_2", "student_3")}
    assert all(count > 0 for count in used.values()), used
    assert max(used.values()) < sum(used.values()) / 2, used  # no single account carries the run
    assert all(token not in run.output + run.summary for token in extra)


def test_the_cost_is_printed_before_the_first_request_and_what_is_left_after(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()

    run = contract_run(server, modules=("test_transcript.py",))

    estimate_line = next(line for line in run.output.splitlines() if line.startswith("Cost estimate:"))
    assert run.output.index("Cost estimate:") < run.output.index(".")  # before the first test ran
    assert "creates" in estimate_line and "AI calls" in estimate_line and "student" in estimate_line
    assert run.report["cost_estimate"]["by_identity"]["student"]["creates"] >= 2
    assert "Daily allowance (what Canvas said is left; unknown: Canvas said nothing)" in run.summary
    assert "left: unknown" in run.summary  # profile completed says nothing: never a guess


def test_profile_auto_reads_ended_off_the_daily_limit(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended")
    assert set(_creates(server, server.target().tokens.student, DAILY_CREATES)) == {201}

    run = contract_run(server, modules=("test_lifecycle.py",), profile="auto")

    assert run.report["profile"]["name"] == "ended"
    assert "429 rate_limited" in run.report["profile"]["source"]
    assert run.code == 1 and run.report["errors"] == []


def test_max_creates_is_an_option_of_contract_and_of_plain_pytest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--max-creates" in help_text and "CANVAS_AI_MAX_CREATES" in help_text
    assert "--max-creates" in _help(capsys, "check")
    assert "--more-students" in _help(capsys, "mock") and "CANVAS_AI_MOCK_MORE_STUDENTS" in _help(capsys, "mock")
    assert main(["contract", "--max-creates", "-1"]) == EXIT_USAGE


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_a_run_that_meets_the_daily_message_limit_says_so_and_blames_nothing_on_canvas(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended")
    service = server.service
    student = service.world.user_for_token(server.target().tokens.student)
    assert student is not None
    service._daily[(student.id, "post_message", service._clock().date())] = 1000  # an earlier run's messages

    run = contract_run(server, modules=("test_input.py",))

    assert run.code == 1, run.summary
    assert run.report["errors"] == [] and run.report["failures"] == []
    could_not_run = [t for t in run.report["tests"] if t["incomplete"]]
    assert could_not_run and all("daily limit for messages" in t["reason"] for t in could_not_run)
    assert run.report["daily_allowance"]["student"]["messages"]["left"].startswith("0 left (429 rate_limited")
