"""What a contract run tells people: skip lines naming the missing target field, no token
anywhere (output, JUnit, JSON report, curl lines), and the documented exit codes."""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import Target, Tokens, write_target
from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.mock.world import (
    ADMIN_TOKEN,
    OTHER_STUDENT_TOKEN,
    OUTSIDER_TOKEN,
    STUDENT_TOKEN,
    TEACHER_TOKEN,
)
from fixtures.contract import RunContract
from fixtures.hooks import LONG_TOKEN, die_after, fragments, quote_token

TOKENS = (STUDENT_TOKEN, OTHER_STUDENT_TOKEN, TEACHER_TOKEN, OUTSIDER_TOKEN, ADMIN_TOKEN)


def _minimal(server: MockServer) -> Target:
    """The mock's target with every optional field left out."""
    return Target(base_url=server.url, course_id="101", ai_experience_id="7", tokens=Tokens(student=STUDENT_TOKEN))


def test_checks_that_need_a_missing_field_are_skipped_with_one_line_naming_it(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    run = contract_run(_minimal(mock_canvas()), modules=("test_references.py", "test_visibility.py"))

    assert run.code == 0, run.output
    for line in (
        "- deleted-experience-404: the target file has no deleted_ai_experience_id",
        "- feature-flag-off-404: the target file has no feature_disabled_course_id",
        "- sis-course-id-same-course: the target file has no course_sis_id",
        "- another-students-conversation-404: the target file has no tokens.other_student",
        "- outsider-403: the target file has no tokens.outsider",
    ):
        assert line in run.summary
    assert run.check("deleted-experience-404")["status"] == "skipped"
    assert 'message="the target file has no tokens.teacher"' in run.junit


def test_no_token_appears_in_output_junit_report_or_reproduction_lines(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    # Error bodies that echo the caller's token, and failures with curl lines to print.
    server = mock_canvas(faults=frozenset({"token-in-auth-errors", "create-returns-200"}))

    run = contract_run(server, modules=("test_visibility.py", "test_lifecycle.py"))

    assert run.code == 1
    written = [run.output, run.junit, run.summary, (run.directory / "reports" / "contract-report.json").read_text()]
    for token in TOKENS:
        assert all(token not in text for text in written), token
    reproduce = [f["reproduce"] for f in run.report["failures"]]
    assert reproduce and all('"Authorization: Bearer $CANVAS_TOKEN"' in line for line in reproduce if "tokens." in line)
    assert "[REDACTED]" in run.summary  # the echoed token, shown redacted in what Canvas answered


def test_a_token_cut_by_a_shortened_body_leaves_no_fragment_anywhere(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    # Canvas quotes the student's token in each destroy's error body, across the 300th character
    # where reports shorten a body.
    server = mock_canvas()
    quote_token(server, LONG_TOKEN, STUDENT_TOKEN, lambda request: request.method == "DELETE", at=300)
    target = server.target()
    target = dataclasses.replace(target, tokens=dataclasses.replace(target.tokens, student=LONG_TOKEN))

    run = contract_run(target, modules=("test_lifecycle.py",))

    assert run.code == 1 and run.report["failures"], run.output
    written = [run.output, run.junit, run.summary, (run.directory / "reports" / "contract-report.json").read_text()]
    leaked = {piece for piece in fragments(LONG_TOKEN) for text in written if piece in text}
    assert not leaked
    assert "xx[REDACTED]" in run.summary  # what Canvas answered, its token redacted whole


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_target_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = Target(
        base_url=f"http://127.0.0.1:{_closed_port()}", course_id="1", ai_experience_id="2", tokens=Tokens("t")
    )
    write_target(target, tmp_path / "target.toml")

    code = main(["contract", "--target", str(tmp_path / "target.toml")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(
        "canvas-ai-harness: error: cannot reach the target at http://127.0.0.1:"
    )


def test_a_bad_target_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "target.toml"
    path.write_text(
        'base_url = "http://127.0.0.1:1"\ncours_id = "1"\nai_experience_id = "2"\n[tokens]\nstudent = "t"\n'
    )

    code = main(["contract", "--target", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "did you mean 'course_id'" in err


def test_the_target_comes_from_the_environment_when_no_option_names_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANVAS_AI_TARGET", str(tmp_path / "missing.toml"))

    code = main(["contract"])

    assert code == 2
    assert "missing.toml does not exist" in capsys.readouterr().err


def test_a_bad_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--max-examples", "0"]) == 2
    assert "--max-examples" in capsys.readouterr().err


def test_a_failing_run_exits_1_and_a_passing_one_0(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    broken = contract_run(mock_canvas(faults=frozenset({"create-returns-200"})), modules=("test_profiles.py",))
    kept = contract_run(mock_canvas(), modules=("test_profiles.py",))

    assert (broken.code, kept.code) == (1, 0)
    assert broken.report["exit_code"] == 1 and "Result: FAIL" in broken.summary
    assert kept.report["exit_code"] == 0 and "Result: PASS" in kept.summary


def test_a_target_that_stops_answering_mid_run_ends_it_with_exit_2(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    die_after(server, requests=20)

    run = contract_run(server, modules=("test_visibility.py", "test_input.py"))

    assert run.code == 2
    assert run.report["exit_code"] == 2
    assert "Result: UNREACHABLE:" in run.summary and "stopped answering" in run.summary


@pytest.mark.parametrize(
    ("modules", "requests"),
    [
        pytest.param(("test_visibility.py",), 20, id="in-a-fixed-scenario"),
        pytest.param(("test_operations.py", "test_sequences.py"), 30, id="in-a-hypothesis-exploration"),
    ],
)
def test_a_target_that_dies_mid_run_is_named_once_per_test_without_tracebacks(
    modules: tuple[str, ...], requests: int, contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    die_after(server, requests=requests)

    run = contract_run(server, modules=modules)

    assert run.code == 2
    affected = [t for t in run.report["tests"] if t["outcome"] != "passed" and t["outcome"] != "skipped"]
    assert affected, run.output
    for test in affected:
        assert test["reason"].startswith("not checked: the target stopped answering: ") and "\n" not in test["reason"]
    messages = re.findall(r'<failure message="([^"]*)"', run.junit)
    assert messages and all(m.startswith("not checked: the target stopped answering: ") for m in messages)
    for noise in ("Traceback", "+-----", "other explicit examples", "Falsifying", "direct cause"):
        assert noise not in run.junit and noise not in run.summary, noise
