"""The contract run's live line: one per phase, redrawn on a terminal, a line every 10 s in a log.

``Progress`` is driven here with a fake clock and a fake stream (no timing); the subprocess test
runs ``canvas-ai-harness contract`` as CI would (output not a terminal) and reads its output, and
checks that the run leaves no cache in the directory it started in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from canvas_ai_harness.contract.caches import cache_dir, engine_caches
from canvas_ai_harness.contract.progress import Counts, Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Spend:
    """What the run has spent: the test moves it as requests would."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self) -> Counts:
        return Counts(self.requests, self.requests // 2, 150, self.requests // 5, 35)


def _progress(tty: bool) -> tuple[Progress, list[str], FakeClock, Spend]:
    written: list[str] = []
    clock, spend = FakeClock(), Spend()
    return Progress(written.append, spend, tty=tty, clock=clock), written, clock, spend


def test_the_line_says_the_phase_its_tests_the_requests_and_the_budgets_spent() -> None:
    progress, _, clock, spend = _progress(tty=True)
    progress.phase("scenarios", 41)
    for _ in range(23):
        progress.done()
    spend.requests = 120
    clock.now += 9

    assert progress.line() == (
        "scenarios: 23/41 tests · 120 requests · AI calls 60 of 150 · creates 24 of 35 · 18 tests to go · 9 s"
    )


def test_on_a_terminal_one_line_is_redrawn_in_place_and_stays_when_its_phase_ends() -> None:
    progress, written, clock, spend = _progress(tty=True)
    progress.phase("scenarios", 2)
    spend.requests = 1
    progress.tick()  # at once: not redrawn yet
    clock.now += 0.5
    progress.tick()
    progress.done()
    clock.now += 0.5
    progress.done()
    progress.phase("explorations", 5)
    progress.finish()

    text = "".join(written)
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # one line per phase, each ended once
    assert all(part.startswith("\r\x1b[K") for part in written if part != "\n")
    assert lines[0].rsplit("\r\x1b[K", 1)[-1].startswith("scenarios: 2/2 tests")
    assert lines[1].rsplit("\r\x1b[K", 1)[-1].startswith("explorations: 0/5 tests")
    assert sum(part.startswith("\r") for part in written) == 6  # start, tick after 0.5 s, 2 done, end, next phase
    # (4 in the first phase, the second phase's start and its end)


def test_redraws_are_at_most_ten_a_second_however_many_requests() -> None:
    progress, written, clock, spend = _progress(tty=True)
    progress.phase("explorations", 5)
    for _ in range(1000):
        spend.requests += 1
        clock.now += 0.001  # a thousand requests in one second
        progress.tick()

    assert 9 <= len(written) <= 11


def test_on_a_narrow_terminal_the_line_is_cut_to_its_width_so_it_never_wraps() -> None:
    written: list[str] = []
    progress = Progress(written.append, Spend(), tty=True, clock=FakeClock(), width=lambda: 40)
    progress.phase("scenarios", 41)

    assert written == ["\r\x1b[K" + progress.line()[:39]]


def test_in_a_log_a_line_every_ten_seconds_and_one_at_the_end() -> None:
    progress, written, clock, spend = _progress(tty=False)
    progress.phase("scenarios", 40)
    for _ in range(40):  # 35 s of scenarios, a request every 0.25 s
        for _ in range(4):
            clock.now += 0.21875
            spend.requests += 1
            progress.tick()
        progress.done()
    progress.phase("explorations", 5)
    progress.finish()

    assert all(line.endswith("\n") and "\r" not in line for line in written)
    assert len(written) == 4  # at 10, 20 and 30 s, then the end
    assert written[0].startswith("scenarios: ") and "10 s" in written[0]
    assert written[-1].startswith("explorations: 0/5 tests")


def test_a_short_run_in_a_log_writes_only_its_last_line() -> None:
    progress, written, clock, _ = _progress(tty=False)
    progress.phase("scenarios", 3)
    for _ in range(3):
        clock.now += 1
        progress.done()
    progress.finish()
    progress.tick()  # the clean-up's requests after the end: nothing more

    assert written == [progress.line() + "\n"]


def test_engine_caches_go_to_the_user_cache_dir_and_the_previous_home_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hypothesis import configuration

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = configuration.storage_directory(intent_to_write=False).home_directory

    with engine_caches() as home:
        assert configuration.storage_directory("constants", intent_to_write=False).path == home / "constants"

    assert home == tmp_path / "canvas-ai-harness" / "hypothesis" == cache_dir() / "hypothesis"
    assert configuration.storage_directory(intent_to_write=False).home_directory == before


@pytest.mark.parametrize(
    ("argv", "html"),
    [
        pytest.param(["contract", "--max-examples", "1"], "contract-report.html", id="contract"),
        pytest.param(["check", "--users", "2", "--run-time", "3s"], "contract/contract-report.html", id="check"),
    ],
)
def test_the_command_leaves_no_cache_in_its_working_directory_and_prints_no_dots(
    tmp_path: Path, argv: list[str], html: str
) -> None:
    cwd, cache, reports = tmp_path / "cwd", tmp_path / "cache", tmp_path / "reports"
    cwd.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    command = [sys.executable, "-m", "canvas_ai_harness", *argv, "--seed", "1", "--report-dir", str(reports)]

    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert list(cwd.iterdir()) == []  # no .hypothesis/, .schemathesis/, .pytest_cache/
    assert (cache / "canvas-ai-harness" / "hypothesis").is_dir()  # moved there, not merely switched off
    lines = done.stdout.splitlines()
    assert not any(line and set(line) <= set(".sFE") for line in lines)  # no row of pytest dots
    assert sum(line.startswith("sequences: 1/1 tests · ") for line in lines) == 1  # the last line, once
    assert "\r" not in done.stdout
    assert (reports / html).is_file()
