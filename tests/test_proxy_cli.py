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
    process, url, banner = _start(["--max-requests", "2", "--report", str(report)])
    try:
        headers = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
        with httpx.Client(base_url=url, timeout=WAIT) as http:
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
    # The mock's fixed tokens are printed at the start, as `mock` prints them; nowhere else.
    assert any(world.STUDENT_TOKEN in line for line in banner)
    files = report.read_text() + report.with_suffix(".txt").read_text() + report.with_suffix(".html").read_text()
    assert world.STUDENT_TOKEN not in stdout + stderr + files


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    """The proxy with its embedded mock; its URL and the announcement lines up to "The report goes to"."""
    command = [sys.executable, "-m", "canvas_ai_harness", "proxy", "--mock", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines = []
    while not lines or not lines[-1].startswith("The report goes to"):
        line = process.stderr.readline()
        assert line, f"the proxy ended before it announced itself: {lines}"
        lines.append(line.rstrip("\n"))
    match = re.search(r"Proxy on (http://127\.0\.0\.1:\d+)", lines[0])
    assert match, lines
    return process, match.group(1), lines


@pytest.mark.slow
def test_proxy_mock_takes_the_mock_options_and_prints_its_tokens_and_a_curl_line(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = ["--llm-failure-rate", "1", "--profile", "ended", "--max-requests", "1", "--report", str(report)]
    process, url, lines = _start(args)
    try:
        assert f"  student        {world.STUDENT_TOKEN}" in lines
        [curl] = [line for line in lines if line.startswith("Try:  curl")]
        assert curl == f"Try:  curl -s -X POST -H 'Authorization: Bearer {world.STUDENT_TOKEN}' {url}{BASE}"
        assert any("Mock Canvas (profile ended)" in line for line in lines)
        with httpx.Client(timeout=WAIT) as http:
            answer = http.post(url + BASE, headers={"Authorization": f"Bearer {world.STUDENT_TOKEN}"})
        assert answer.status_code == 503  # --llm-failure-rate 1 reached the embedded mock
        assert set(answer.json()) == {"error", "code", "retryable", "reference_id"}  # --profile ended's 503
        stdout, _ = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stdout
    assert "Answers the client met: 503 1" in stdout
    assert "  429: proxy --mock --profile ended" in stdout and "503: proxy --mock" not in stdout  # met: no hint


def test_a_mock_option_without_mock_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--upstream", "http://127.0.0.1:9", "--llm-failure-rate", "0.5", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--llm-failure-rate shapes the embedded mock: add --mock" in err and "Traceback" not in err


def test_a_mock_variable_set_for_other_commands_does_not_stop_an_upstream_proxy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANVAS_AI_PROFILE", "ended")
    assert main(["proxy", "--upstream", "http://127.0.0.1:9", "--port", "0"]) == 2
    assert "nothing answers at 127.0.0.1:9" in capsys.readouterr().err


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


def test_proxy_offers_each_option_that_shapes_the_mock_with_the_mocks_default_and_type() -> None:
    from canvas_ai_harness.cli import cli
    from canvas_ai_harness.cli.servers import MOCK_WORLD_KEYS

    def world(command: str) -> dict[str, tuple[object, ...]]:
        params = {p.name: p for p in cli.commands[command].params if p.name in MOCK_WORLD_KEYS}
        return {name: (p.opts, p.default, type(p.type).__name__, p.hidden) for name, p in params.items()}

    assert set(world("mock")) == set(MOCK_WORLD_KEYS)
    assert world("proxy") == world("mock")
