"""The two ways to run the contract suite, each in a process of its own, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_ai_harness.config import write_target
from canvas_ai_harness.contract import suite_path
from canvas_ai_harness.mock import MockServer


@pytest.mark.slow
def test_the_contract_command_checks_an_embedded_mock_without_a_target(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "canvas_ai_harness", "contract", "--max-examples", "1", "--seed", "7"]
    command += ["--report-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "CANVAS_AI_TARGET"}

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Result: PASS: the target keeps the contract (exit 0)" in done.stdout
    report = json.loads((tmp_path / "contract-report.json").read_text())
    assert report["target"]["embedded_mock"] is True and report["seed"] == 7


@pytest.mark.slow
def test_plain_pytest_runs_the_suite_against_a_target_file(
    tmp_path: Path, mock_canvas: Callable[..., MockServer]
) -> None:
    write_target(mock_canvas(profile="ended").target(), tmp_path / "target.toml")
    suite = suite_path()
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(suite / "test_profiles.py"),
        "--target",
        str(tmp_path / "target.toml"),
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=suite.parent)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "profile ended (target file)" in done.stdout
