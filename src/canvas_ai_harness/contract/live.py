"""The contract suite's second pytest plugin: what a person sees while a run goes, and where caches go.

``contract_tests/conftest.py`` loads it beside ``plugin.py``. With ``-q`` (``canvas-ai-harness
contract`` passes it) pytest's dots give way to one live line per phase (``progress.Progress``):
fixed scenarios, then the explorations, then the stateful sequences, with the tests run of those
planned, the requests sent and the AI calls and creates spent of their budgets. It is redrawn as
requests go out, on the real terminal even while a test's output is captured. Without ``-q``,
pytest's own output stays as it is.

For the length of the pytest run, Hypothesis keeps its files under the user cache directory
(``caches.engine_caches``), never in ``.hypothesis/`` of the directory the run started in.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from typing import Final

import pytest

from canvas_ai_harness.contract import plugin
from canvas_ai_harness.contract.caches import engine_caches
from canvas_ai_harness.contract.progress import Counts, Progress
from canvas_ai_harness.contract.session import ContractSession

__all__ = ["PHASES", "LiveProgress"]

PHASES: Final = {0: "scenarios", 1: "explorations", 2: "sequences"}
_NAME: Final = "canvas-ai-harness-live"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LiveProgress(config), _NAME)


def _stage(item: pytest.Item) -> int:
    marker = item.get_closest_marker("canvas_stage")
    return int(marker.args[0]) if marker else 0


def _session() -> ContractSession | None:
    try:
        return plugin.current()
    except RuntimeError:  # the session could not open: nothing to show
        return None


def _counts() -> Counts:
    session = _session()
    if session is None:
        return Counts()
    budget, creates = session.budget, session.creates
    return Counts(session.client.sent, budget.used, budget.limit, creates.used, creates.limit)


class LiveProgress:
    """The hooks behind the live line, and the caches' place for the length of the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.caches = ExitStack()
        self.caches.enter_context(engine_caches())
        self.progress: Progress | None = None
        self.stages: dict[str, int] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.caches.close()
        config.pluginmanager.unregister(self, _NAME)

    def _write(self, text: str) -> None:
        """Write to the terminal, even while a test's output is being captured."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        if capture is None:
            reporter.write(text, flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter.write(text, flush=True)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        contract = _session()
        if reporter is None or contract is None or self.config.get_verbosity() >= 0:
            return  # pytest's own output, as asked
        self.stages = {item.nodeid: _stage(item) for item in session.items}
        columns = lambda: shutil.get_terminal_size().columns  # noqa: E731
        self.progress = Progress(self._write, _counts, tty=bool(reporter.isatty), width=columns)
        contract.client.ticks.append(self.progress.tick)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """No dot per test while the live line runs; the category still counts in pytest's last line."""
        if self.progress is None:
            return None
        if report.when == "call" or report.outcome != "passed":
            category = "error" if report.when != "call" and report.outcome == "failed" else report.outcome
            return category, "", report.outcome.upper()
        return "", "", ""

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.progress is None:
            return
        stage = self.stages.get(nodeid, 0)
        planned = sum(1 for s in self.stages.values() if s == stage)
        self.progress.phase(PHASES.get(stage, f"stage {stage}"), planned)

    def pytest_runtest_logfinish(self) -> None:
        if self.progress is not None:
            self.progress.done()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if self.progress is not None:
            self.progress.finish()  # before the clean-up's requests: the line says what the checks spent
