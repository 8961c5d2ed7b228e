"""``canvas-ai-harness proxy``: the README command end to end, and its usage errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.mock import world

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
WAIT = 120  # seconds: bounds a hang, not a speed check


@pytest.mark.slow
def test_proxy_with_embedded_mock_stops_after_max_requests_and_reports(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "canvas_ai_harness", "proxy", "--mock", "--port", "0", "--max-requests", "2"]
    with subprocess.Popen(
        [*command, "--report", str(report)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            match = re.search(r"Proxy on (http://127\.0\.0\.1:\d+)", first)
            assert match, first
            headers = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
            with httpx.Client(base_url=match.group(1), timeout=WAIT) as http:
                assert http.post(BASE, headers=headers).status_code == 201
                assert http.post(f"{BASE}/1/messages", headers=headers, content=b"message=hi").status_code == 400
            stdout, stderr = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1, stderr  # the second request had no Content-Type
    assert "FAILED" in stdout and "content-type" in stdout
    assert json.loads(report.read_text())["totals"]["non_conforming_requests"] == 1
    assert report.with_suffix(".txt").exists() and report.with_suffix(".html").exists()
    assert world.STUDENT_TOKEN not in stdout + stderr + report.read_text()


@pytest.mark.parametrize(
    "args",
    [pytest.param([], id="neither"), pytest.param(["--mock", "--upstream", "http://127.0.0.1:9"], id="both")],
)
def test_exactly_one_upstream_is_required(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", *args]) == 2
    assert "exactly one of --upstream URL and --mock" in capsys.readouterr().err


def test_an_unreachable_upstream_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--upstream", "http://127.0.0.1:9", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing answers at 127.0.0.1:9" in err and "Traceback" not in err
