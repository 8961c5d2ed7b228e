"""``canvas-ai-harness check``: contract suite then a short load run, one summary, the worst exit code."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_ai_harness.check import CheckResult
from canvas_ai_harness.cli import main
from canvas_ai_harness.config import write_target
from canvas_ai_harness.mock import MockServer, default_target

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("contract", "load", "expected"),
    [
        pytest.param(0, 0, 0, id="both-pass"),
        pytest.param(1, 0, 1, id="contract-broken"),
        pytest.param(0, 1, 1, id="threshold-missed"),
        pytest.param(2, None, 2, id="unreachable"),
        pytest.param(1, 130, 130, id="interrupted-load"),
        pytest.param(0, 2, 2, id="load-could-not-run"),
    ],
)
def test_exit_code_is_the_worst_of_the_two(contract: int, load: int | None, expected: int) -> None:
    assert CheckResult(contract, load).exit_code == expected


def test_broken_canvas_fails_the_check_naming_the_contract(
    mock_canvas: Callable[..., MockServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = mock_canvas(faults=frozenset({"create-returns-200"}))
    target = tmp_path / "target.toml"
    write_target(server.target(), target)
    argv = ["check", "--target", str(target), "--report-dir", str(tmp_path / "r"), "--seed", "1"]
    code = main([*argv, "--users", "2", "--run-time", "4s"])
    out = capsys.readouterr().out
    assert code == 1
    assert "contract: FAIL" in out
    assert "load: " in out and "load: not started" not in out
    assert (tmp_path / "r" / "contract" / "junit.xml").is_file()
    assert (tmp_path / "r" / "load").is_dir()
    index = (tmp_path / "r" / "index.html").read_text("utf-8")
    assert "Check: FAIL" in index and 'data-verdict="FAIL"' in index  # the contract part's row
    assert 'href="contract/contract-report.html"' in index and 'href="load/load-report.html"' in index
    assert server.service.store.active_count == 0


def test_unreachable_target_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = tmp_path / "target.toml"
    write_target(default_target(f"http://127.0.0.1:{port}"), target)
    code = main(["check", "--target", str(target), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line.lower()] and "127.0.0.1" in err


def test_bad_target_file_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "target.toml"
    target.write_text('base_url = "http://127.0.0.1:1"\ncourse_id = "101"\nai_experience_id = "7"\ncourse_sid = "x"\n')
    code = main(["check", "--target", str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert "course_sid" in err and "course_sis_id" in err
