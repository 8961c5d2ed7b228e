"""An error inside the harness is never a verdict on the target: exit 3, one line, the traceback in a file.

Each test plants a bug in the harness (monkeypatch) at one place an exception used to become exit 1
("the target broke the contract") or a traceback on the terminal, and sees the harness's own code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import write_target
from canvas_ai_harness.exits import EXIT_HARNESS
from canvas_ai_harness.mock.world import STUDENT_TOKEN, TEACHER_TOKEN
from fixtures.servers import Canvas


def _bug(*args: Any, **kwargs: Any) -> NoReturn:
    raise KeyError("id")  # what a scenario that expected an id it did not get used to raise


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _traceback_file(output: str) -> Path:
    found = re.search(r"tracebacks? in (\S+)", output)
    assert found, output
    return Path(found.group(1))


def _target(canvas: Canvas, tmp_path: Path) -> str:
    path = tmp_path / "target.toml"
    write_target(canvas.target, path)
    return str(path)


def test_a_bug_in_a_contract_scenario_is_a_harness_error_not_a_broken_contract(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.contract.scenario.Canvas.active", _bug)
    reports = tmp_path / "r"
    argv = ["contract", "--target", _target(canvas_completed, tmp_path), "--report-dir", str(reports)]
    argv += ["--junit-xml", str(tmp_path / "junit.xml")]
    code, output = _run([*argv, "--max-examples", "1", "--seed", "1"], capsys)

    assert code == EXIT_HARNESS
    junit = (tmp_path / "junit.xml").read_text("utf-8")
    assert 'type="HarnessFailure"' in junit and "Traceback" not in junit  # JUnit: the harness's, no check's
    assert not re.search(r'<testcase classname="(?!harness)[^"]*" name="[^"]*"[^>]*>\s*<failure', junit)
    assert "Traceback" not in output
    assert "HARNESS ERROR: the harness itself failed in" in output and "FAIL: the target broke" not in output
    report = json.loads((reports / "contract-report.json").read_text("utf-8"))
    assert report["exit_code"] == EXIT_HARNESS and report["outcome"] == "harness error"
    assert report["harness_errors"] and all("KeyError: 'id'" in e["traceback"] for e in report["harness_errors"])
    assert all(e["test"] not in {f["test"] for f in report["failures"]} for e in report["harness_errors"])
    text = (reports / "contract-report.json").read_text("utf-8")
    assert STUDENT_TOKEN not in text and TEACHER_TOKEN not in text
    page = (reports / "contract-report.html").read_text("utf-8")  # the page is written too, and says so
    assert 'data-verdict="HARNESS ERROR"' in page and f'data-exit-code="{EXIT_HARNESS}"' in page
    assert "KeyError: &#39;id&#39;" in page and STUDENT_TOKEN not in page and TEACHER_TOKEN not in page


def test_without_a_report_dir_the_tracebacks_still_land_in_a_file(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.contract.scenario.Canvas.active", _bug)
    argv = ["contract", "--target", _target(canvas_completed, tmp_path), "--max-examples", "1", "--seed", "1"]
    code, output = _run(argv, capsys)
    assert code == EXIT_HARNESS
    written = _traceback_file(output)
    assert "KeyError: 'id'" in written.read_text("utf-8")
    written.unlink()


def test_a_crash_while_opening_the_contract_session_is_one_line_and_exit_3(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.contract.session.SpecValidator", _bug)
    reports = tmp_path / "r"
    argv = ["contract", "--target", _target(canvas_completed, tmp_path), "--report-dir", str(reports)]
    code, output = _run(argv, capsys)
    assert code == EXIT_HARNESS
    errors = [line for line in output.splitlines() if line.startswith("canvas-ai-harness: error:")]
    assert len(errors) == 1 and "harness itself failed (KeyError)" in errors[0], output
    assert "Traceback" not in output
    assert "KeyError: 'id'" in _traceback_file(errors[0]).read_text("utf-8")


def test_a_bug_in_the_load_command_is_exit_3_with_the_traceback_in_a_file(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.load.run_load", _bug)
    code, output = _run(["load", "--target", _target(canvas_completed, tmp_path), "--users", "2"], capsys)
    assert code == EXIT_HARNESS
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    written = _traceback_file(output)
    text = written.read_text("utf-8")
    assert "KeyError: 'id'" in text and STUDENT_TOKEN not in text
    written.unlink()


def test_a_bug_under_check_is_exit_3_with_the_traceback_in_its_report_dir(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.check.run_contract", _bug)
    reports = tmp_path / "r"
    argv = ["check", "--target", _target(canvas_completed, tmp_path), "--report-dir", str(reports)]
    code, output = _run(argv, capsys)
    assert code == EXIT_HARNESS
    assert "Traceback" not in output
    assert _traceback_file(output) == reports / "contract" / "harness-error.txt"
    assert "KeyError: 'id'" in (reports / "contract" / "harness-error.txt").read_text("utf-8")


def test_a_crash_while_writing_the_contract_reports_is_one_line_and_exit_3(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canvas_ai_harness.contract.plugin.write_reports", _bug)
    reports = tmp_path / "r"
    argv = ["contract", "--target", _target(canvas_completed, tmp_path), "--report-dir", str(reports)]
    code, output = _run([*argv, "--max-examples", "1", "--seed", "1"], capsys)
    assert code == EXIT_HARNESS
    assert "Traceback" not in output and "INTERNALERROR" not in output
    errors = [line for line in output.splitlines() if line.startswith("canvas-ai-harness: error:")]
    assert len(errors) == 1 and "while finishing the run" in errors[0], output
    assert _traceback_file(errors[0]) == reports / "harness-error.txt"
    assert canvas_completed.server.service.store.active_count == 0  # clean-up ran before the crash
