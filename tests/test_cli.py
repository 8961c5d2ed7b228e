"""The ``canvas-ai-harness`` command: help, version, option errors, and ``mock`` run for real in a subprocess."""

from __future__ import annotations

import gc
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import canvas_ai_harness
from canvas_ai_harness import load_target
from canvas_ai_harness.cli import main
from canvas_ai_harness.mock import Latency, MockConfig, ThrottleConfig, default_target
from canvas_ai_harness.mock import world as w
from fixtures.generation import SLOW_OK

WAIT = 120.0  # seconds: bounds a subprocess that hangs while starting or stopping, not a speed check


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_mock_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert re.search(r"^\s+mock\s+Serve the mock Canvas", out, re.MULTILINE)


def test_mock_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "mock", "--help")
    assert code == 0
    for option in ("--port", "--profile", "--llm-failure-rate", "--throttle", "--write-target"):
        assert option in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        pytest.param(["mock", "--port", "70000"], "--port", id="port-out-of-range"),
        pytest.param(["mock", "--profile", "newest"], "--profile", id="unknown-profile"),
        pytest.param(["mock", "--llm-latency-ms", "soon"], "--llm-latency-ms", id="latency-not-a-number"),
        pytest.param(["mock", "--llm-latency-ms", "-5"], "--llm-latency-ms", id="negative-latency"),
        pytest.param(["mock", "--llm-failure-rate", "1.5"], "--llm-failure-rate", id="rate-over-one"),
        pytest.param(["mock", "--max-conversations", "0"], "--max-conversations", id="no-room"),
        pytest.param(["mock", "--throttle-capacity", "0"], "--throttle-capacity", id="zero-capacity"),
        pytest.param(["mock", "--unauthorized-status", "500"], "--unauthorized-status", id="bad-status"),
        pytest.param(["mock", "--no-such-option"], "--no-such-option", id="unknown-option"),
        pytest.param(["serve"], "serve", id="unknown-command"),
    ],
)
def test_usage_error_exits_2_with_one_error_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    errors = [line for line in (out + err).splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and named in errors[0], out + err
    assert "Traceback" not in out + err


def test_port_in_use_is_a_one_line_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, out, err = _run(capsys, "mock", "--port", str(busy.getsockname()[1]))
    assert code == 2
    assert err.startswith("canvas-ai-harness: error: cannot listen on 127.0.0.1:")
    assert len(err.strip().splitlines()) == 1 and out == ""


# -- option wiring, with the server replaced by one that returns at once ---------------------------------


class _NoServer:
    """Stands in for MockServer: records the config, serves nothing."""

    configs: list[MockConfig] = []  # noqa: RUF012 - a record shared by the instances of one test

    def __init__(self, config: MockConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.configs.append(config)
        self.url = f"http://{host}:{port}"

    def target(self) -> Any:
        return default_target(self.url, self.configs[-1].profile)

    def serve_forever(self) -> None:
        pass


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[MockConfig]:
    import canvas_ai_harness.mock as mock_package

    configs: list[MockConfig] = []
    monkeypatch.setattr(_NoServer, "configs", configs)
    monkeypatch.setattr(mock_package, "MockServer", _NoServer)
    for name in [n for n in os.environ if n.startswith("CANVAS_AI_")]:
        monkeypatch.delenv(name)
    return configs


def test_mock_options_build_the_mock_config(capsys: pytest.CaptureFixture[str], no_server: list[MockConfig]) -> None:
    argv = ["mock", "--port", "0", "--profile", "ended", "--llm-latency-ms", "800:200", "--llm-failure-rate", "0.25"]
    argv += ["--seed", "7", "--max-conversations", "50", "--max-body-bytes", "1024", "--unauthorized-status", "401"]
    argv += ["--throttle", "--throttle-capacity", "100", "--throttle-outflow", "0", "--throttle-upfront", "60"]
    argv += ["--throttle-cost", "2"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    (config,) = no_server
    assert (config.profile, config.llm_latency, config.llm_failure_rate, config.seed) == (
        "ended",
        Latency(800, 200),
        0.25,
        7,
    )
    assert (config.max_conversations, config.max_body_bytes, config.unauthorized_status) == (50, 1024, 401)
    assert config.throttle == ThrottleConfig(capacity=100, outflow=0, upfront=60, cost=2)
    assert "profile ended" in out


def test_environment_sets_options_and_the_command_line_wins(
    capsys: pytest.CaptureFixture[str], no_server: list[MockConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANVAS_AI_PROFILE", "ended")
    monkeypatch.setenv("CANVAS_AI_MOCK_LLM_FAILURE_RATE", "0.5")
    assert _run(capsys, "mock", "--port", "0", "--llm-failure-rate", "0.1")[0] == 0
    assert (no_server[0].profile, no_server[0].llm_failure_rate) == ("ended", 0.1)


_OPTIONS = ["--port", "--profile", "--llm-latency-ms", "--llm-failure-rate", "--seed", "--max-conversations"]
_OPTIONS += ["--throttle", "--throttle-capacity", "--unauthorized-status", "--no-such-option", "-h"]


@settings(max_examples=30, deadline=None, suppress_health_check=[*SLOW_OK, HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.sampled_from(_OPTIONS) | st.text(max_size=8), max_size=6))
def test_any_mock_arguments_exit_0_or_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], no_server: list[MockConfig], args: list[str]
) -> None:
    code, out, err = _run(capsys, "mock", *args)
    assert code in (0, 2)
    assert "Traceback" not in out + err


# -- for real, in a subprocess --------------------------------------------------------------------------


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_version_by_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "canvas_ai_harness", "--version"], capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"canvas-ai-harness, version {canvas_ai_harness.__version__}"


@pytest.mark.slow
def test_mock_serves_writes_a_target_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    target_path = tmp_path / "target.toml"
    command = [sys.executable, "-m", "canvas_ai_harness", "mock", "--port", "0", "--write-target", str(target_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
        banner: list[str] = []
        deadline = time.monotonic() + WAIT
        while not banner or "Press Ctrl-C" not in banner[-1]:
            banner.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        text = "".join(banner)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert url, text
        for token in (w.STUDENT_TOKEN, w.OTHER_STUDENT_TOKEN, w.TEACHER_TOKEN, w.OUTSIDER_TOKEN, w.ADMIN_TOKEN):
            assert token in text
        target = load_target(target_path, env={})
        assert target == default_target(url.group(1))
        response = httpx.get(
            f"{target.base_url}/api/v1/courses/{target.course_id}/ai_experiences/{target.ai_experience_id}/conversations",
            headers={"Authorization": f"Bearer {target.tokens.student}"},
            timeout=WAIT,
        )
        assert (response.status_code, response.json()) == (200, {})
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_unwritable_target_file_exits_2_with_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "canvas_ai_harness", "mock", "--port", "0"]
    command += ["--write-target", str(tmp_path / "missing-dir" / "t.toml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2
    assert done.stderr.startswith("canvas-ai-harness: error: cannot write target file ")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_unwritable_target_file_exits_2_and_releases_the_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["mock", "--port", "0", "--write-target", str(tmp_path / "missing" / "target.toml")])
    gc.collect()  # an unclosed listening socket would surface here as an unraisable ResourceWarning
    assert code == 2
    assert "cannot write target file" in capsys.readouterr().err


def test_help_names_each_options_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mock", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for env in (
        "CANVAS_AI_MOCK_PORT",
        "CANVAS_AI_PROFILE",
        "CANVAS_AI_MOCK_THROTTLE_CAPACITY",
        "CANVAS_AI_MOCK_UNAUTHORIZED_STATUS",
    ):
        assert env in out.replace("- ", "-").replace("_ ", "_"), env


def test_mock_budget_options_build_the_mock_config(
    capsys: pytest.CaptureFixture[str], no_server: list[MockConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANVAS_AI_MOCK_MAX_STORED_BYTES", "5000000")
    monkeypatch.setenv("CANVAS_AI_MOCK_READ_TIMEOUT_S", "3.5")
    argv = ["mock", "--port", "0", "--max-transcript-bytes", "100000", "--max-students", "10"]
    argv += ["--max-header-bytes", "9000", "--max-idle-connections", "20"]
    code, _, _ = _run(capsys, *argv)
    assert code == 0
    (config,) = no_server
    assert (config.max_stored_bytes, config.max_transcript_bytes, config.max_students) == (5_000_000, 100_000, 10)
    assert (config.max_header_bytes, config.read_timeout_s, config.max_idle_connections) == (9000, 3.5, 20)


def test_mock_budget_defaults_are_the_configs(capsys: pytest.CaptureFixture[str], no_server: list[MockConfig]) -> None:
    assert _run(capsys, "mock", "--port", "0")[0] == 0
    assert no_server == [MockConfig()]


def test_proxy_budget_options_build_the_proxy_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import canvas_ai_harness.proxy as proxy_package
    from canvas_ai_harness.proxy import ConformanceReport, ProxyConfig

    configs: list[ProxyConfig] = []

    def fake_run(config: ProxyConfig, **_: Any) -> ConformanceReport:
        configs.append(config)
        return ConformanceReport(config.upstream, config.strict).finish()

    monkeypatch.setattr(proxy_package, "run_proxy", fake_run)
    monkeypatch.setenv("CANVAS_AI_PROXY_MAX_BODY_BYTES", "2048")
    argv = ["proxy", "--upstream", "http://127.0.0.1:9", "--read-timeout-s", "2", "--max-header-bytes", "8000"]
    _run(capsys, *argv)
    (config,) = configs
    assert (config.max_body_bytes, config.read_timeout_s, config.max_header_bytes) == (2048, 2.0, 8000)
    assert config.max_idle_connections is None
