"""The pytest plugin behind ``contract_tests/`` (its ``conftest.py`` loads it).

It adds the suite's options (``--target``, ``--profile``, ``--max-examples``, ``--seed``,
``--max-llm-calls``, ``--max-creates``, ``--rate-limit``, ``--report-dir``, ``--only``/``--skip``...),
opens a ``ContractSession`` when the pytest session starts, deselects the tests about checks
``--only``/``--skip`` leave out, prints what the run will cost once the tests are collected
(``allowance.Estimate``, from each scenario's ``canvas_cost`` marker), hands each scenario the
student account with the fewest creates so far, orders the tests (fixed scenarios first, then the
property-based explorations, then the stateful sequences, so that the AI-call budget serves the
deterministic checks first), turns a ``CannotRun`` into a skip with its reason, raises the
violations the explorations recorded, redacts tokens from every report, and at the end closes every
conversation the run created, writes the JSON and HTML reports and prints the summary, also after Ctrl-C.
pytest's ``--junitxml`` file is replaced by the run's own (``junit.py``: one test case per check).

schemathesis builds its tests from a schema object when the test module is collected, so the
module asks ``schema()`` for one made with this run's settings; ``current()`` is the session of
the pytest run in progress.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from canvas_ai_harness.contract.checks import ContractViolation
from canvas_ai_harness.contract.estimate import estimate
from canvas_ai_harness.contract.fuzz import OperationRunner, load_schema
from canvas_ai_harness.contract.junit import write_junit
from canvas_ai_harness.contract.limits import CannotRun
from canvas_ai_harness.contract.report import render_summary, write_reports
from canvas_ai_harness.contract.scenario import Canvas
from canvas_ai_harness.contract.selection import split_names
from canvas_ai_harness.contract.session import PROFILE_OPTIONS, ContractSession, Outcome, Settings
from canvas_ai_harness.crash import format_traceback, write_traceback
from canvas_ai_harness.errors import AccountsInUse, HarnessError, HarnessFailure, TargetUnreachable

__all__ = ["current", "last_session", "schema"]

_SETTINGS = pytest.StashKey[Settings]()
_E = TypeVar("_E", bound=BaseException)
_EXPLORATION = pytest.StashKey[OperationRunner]()
_CURRENT: ContractSession | None = None
_LAST: ContractSession | None = None
_CRASH: HarnessFailure | None = None  # the harness failed before the session could open
_SCHEMA: tuple[int, Any] | None = None


def current() -> ContractSession:
    """The contract session of the pytest run in progress."""
    if _CURRENT is None:
        raise RuntimeError("no contract session: run contract_tests with pytest (or canvas-ai-harness contract)")
    return _CURRENT


def last_session() -> ContractSession | None:
    """The session of the last pytest run in this process (for the in-process runner)."""
    return _LAST


def last_crash() -> HarnessFailure | None:
    """Why the last pytest run could not open its session, when the harness itself failed."""
    return _CRASH


def is_harness_error(error: BaseException | None) -> bool:
    """Whether a test ended on a bug of the harness rather than on the target's answer.

    The target's breaks are ``ContractViolation`` (an ``AssertionError``) and the scenarios' own
    assertions; a check that could not run is ``CannotRun``; pytest's skip/fail/xfail are theirs.
    Anything else (a ``KeyError`` in a scenario, a ``TypeError`` in a check) is the harness's.
    """
    if error is None:
        return False
    if isinstance(error, BaseExceptionGroup):
        return all(is_harness_error(e) for e in error.exceptions)
    outcomes = (pytest.skip.Exception, pytest.fail.Exception, pytest.xfail.Exception)
    ours = (AssertionError, CannotRun, HarnessError, KeyboardInterrupt, *outcomes)
    return not isinstance(error, ours)


def schema() -> Any:
    """The spec as a schemathesis schema, configured with this run's seed and ``--max-examples``."""
    global _SCHEMA
    session = current()
    if _SCHEMA is None or _SCHEMA[0] != id(session):
        settings = session.settings
        _SCHEMA = (id(session), load_schema(settings.max_examples, session.seed, settings.max_steps))
    return _SCHEMA[1]


# -- options and session ------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("canvas-ai-harness", "Canvas AI Conversations contract suite")
    group.addoption(
        "--target", default=None, help="target file (TOML); default $CANVAS_AI_TARGET, else an embedded mock Canvas"
    )
    group.addoption(
        "--profile", default=None, choices=PROFILE_OPTIONS, help="profile to expect; default: the target file's"
    )
    group.addoption("--max-examples", type=int, default=10, help="generated examples per operation (default 10)")
    group.addoption("--seed", type=int, default=None, help="seed for a repeatable run")
    group.addoption(
        "--max-llm-calls",
        type=int,
        default=None,
        help="AI calls (creates and post_messages) the run may cause; 0: no limit (default: none on the mock, "
        "150 otherwise)",
    )
    group.addoption(
        "--max-creates",
        type=int,
        default=None,
        help="conversations the run may create; 0: no limit (default: none on the mock, 35 otherwise)",
    )
    group.addoption(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second; 0: no limit (default: none on the mock, 5 otherwise)",
    )
    group.addoption("--max-steps", type=int, default=6, help="steps per stateful sequence (default 6)")
    group.addoption("--report-dir", default=None, help="write the JSON, text and HTML reports here")
    group.addoption("--retry-base", type=float, default=0.5, help=argparse.SUPPRESS)
    for flag, what in (("--only", "run only these checks"), ("--skip", "do not run these checks")):
        group.addoption(
            flag,
            action="append",
            default=[],
            metavar="CHECK",
            help=f"{what} (names such as create-answers-201; repeatable or comma-separated; "
            f"default ${'CANVAS_AI_' + flag[2:].upper()})",
        )
    group.addoption("--preflight-done", action="store_true", default=False, help=argparse.SUPPRESS)
    group.addoption("--harness-command", default=None, help=argparse.SUPPRESS)  # JSON list: the report's command


def pytest_configure(config: pytest.Config) -> None:
    global _LAST, _CRASH
    _LAST, _CRASH = None, None
    config.addinivalue_line("markers", "canvas_check(*names): the contract checks a scenario is about")
    config.addinivalue_line("markers", "canvas_stage(n): order of a stage of the suite (0: scenarios first)")
    config.addinivalue_line(
        "markers",
        "canvas_cost(creates=0, posts=0, identity=None): AI calls a scenario makes (its student's by default)",
    )
    opt = config.option
    try:
        config.stash[_SETTINGS] = Settings(
            target_path=opt.target,
            profile=opt.profile,
            max_examples=opt.max_examples,
            seed=opt.seed,
            max_llm_calls=opt.max_llm_calls,
            max_creates=opt.max_creates,
            rate_limit=opt.rate_limit,
            max_steps=opt.max_steps,
            report_dir=Path(opt.report_dir) if opt.report_dir else None,
            retry_base=opt.retry_base,
            only=split_names(opt.only or os.environ.get("CANVAS_AI_ONLY")),
            skip=split_names(opt.skip or os.environ.get("CANVAS_AI_SKIP")),
            preflight=not opt.preflight_done,
            command=tuple(json.loads(opt.harness_command)) if opt.harness_command else (),
        )
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _CURRENT, _LAST, _CRASH
    settings = session.config.stash[_SETTINGS]
    try:
        _CURRENT = ContractSession.open(settings)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    except Exception as exc:  # a bug of the harness: one line here, the traceback in a file
        path = write_traceback(exc, settings.report_dir, context="opening the contract session")
        _CRASH = HarnessFailure(
            f"the harness itself failed ({type(exc).__name__}) before the suite started, not the target; "
            f"traceback in {path}"
        )
        raise pytest.UsageError(str(_CRASH)) from None
    _LAST = _CURRENT


def pytest_report_header(config: pytest.Config) -> str | None:
    if _CURRENT is None:
        return None
    s = _CURRENT
    return f"contract target: {s.target.base_url}; profile {s.profile_name} ({s.profile_source}); seed {s.seed}"


def _stage(item: pytest.Item) -> int:
    marker = item.get_closest_marker("canvas_stage")
    return int(marker.args[0]) if marker else 0


def _checks_of(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("canvas_check")
    return tuple(marker.args) if marker else ()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_stage)  # stable: each stage keeps its file order
    selection = config.stash[_SETTINGS].selection
    if not selection.narrowed:
        return
    # A check no scenario is about is judged only by the explorations, which judge every answer.
    claimed = {name for item in items if _stage(item) == 0 for name in _checks_of(item)}
    unclaimed = selection.chosen - claimed
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        names = _checks_of(item)
        wanted = not names or selection.any_applies(names) or (_stage(item) > 0 and bool(unclaimed))
        (keep if wanted else drop).append(item)
    if drop:  # a scenario about deselected checks only would just spend requests and AI calls
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Print what the run will cost, per identity, before its first costly request."""
    contract = _CURRENT
    if contract is None:
        return
    contract.estimate = estimate(contract, session.items)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(contract.estimate.render())


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def contract() -> ContractSession:
    """The run's ``ContractSession``."""
    return current()


@pytest.fixture(scope="session")
def canvas(contract: ContractSession) -> Canvas:
    """The target, in Canvas's vocabulary; every answer is judged by the rulebook."""
    return Canvas(contract)


@pytest.fixture(autouse=True)
def _spread_students(request: pytest.FixtureRequest) -> None:
    """Each scenario acts as the student with the fewest creates so far."""
    if "canvas" in request.fixturenames:
        canvas: Canvas = request.getfixturevalue("canvas")
        canvas.student = canvas.session.next_student()


@pytest.fixture
def explore(request: pytest.FixtureRequest, contract: ContractSession) -> Callable[[Any], None]:
    """Send one schemathesis case through the run's client (pins, budget, rulebook, negative data)."""

    def run(case: Any) -> None:
        runner = request.node.stash.get(_EXPLORATION, None)
        if runner is None:
            runner = OperationRunner(contract, case.operation.definition.raw["operationId"])
            request.node.stash[_EXPLORATION] = runner
        runner.run(case)

    return run


# -- running ------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    runner = item.stash.get(_EXPLORATION, None)
    if runner is not None:
        runner.finish()  # a violation the exploration recorded, or why it stopped early
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    session = _CURRENT
    error = call.excinfo.value if call.excinfo is not None else None
    violation: dict[str, Any] | None = None
    incomplete = False
    gone, clash = _behind(error, TargetUnreachable), _behind(error, AccountsInUse)
    harness_error = ""
    if gone is not None:
        if session is not None:
            session.unreachable = session.unreachable or str(gone)
        item.session.shouldstop = "the target stopped answering"  # every further check would fail alike
        # The reason, once: not the chained transport errors, nor Hypothesis's retries of it.
        report.longrepr = f"not checked: the target stopped answering: {gone}"
    elif clash is not None:
        if session is not None:
            session.accounts_in_use = session.accounts_in_use or str(clash)
        item.session.shouldstop = "another run or user is using these accounts"  # no rule can be judged now
        report.longrepr = f"not checked: {clash}"
    elif is_harness_error(error) and session is not None and error is not None:
        harness_error = session.redactor(format_traceback(error))
        report.longrepr = session.redactor(f"the harness itself failed: {type(error).__name__}: {error}")
    elif isinstance(error, CannotRun):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {error.reason}")
        incomplete = error.incomplete
    elif isinstance(error, ContractViolation):
        report.longrepr = error.render()
        violation = error.to_dict()
        report.user_properties.append(("checks", ",".join(error.check_names)))
    if session is not None:
        if isinstance(report.longrepr, tuple):
            path, line, message = report.longrepr
            report.longrepr = (path, line, session.redactor(message))
        elif report.longrepr is not None:
            report.longrepr = session.redactor(str(report.longrepr))
        report.sections = [(title, session.redactor(content)) for title, content in report.sections]
        _record(session, item, report, violation, incomplete, harness_error)
    return report


def _behind(error: BaseException | None, kind: type[_E]) -> _E | None:
    """The ``kind`` of error behind ``error``: itself, a cause, or inside an exception group (Hypothesis)."""
    stack, seen = [error], set()
    while stack:
        found = stack.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, kind):
            return found
        if isinstance(found, BaseExceptionGroup):
            stack.extend(found.exceptions)
        stack += [found.__cause__, found.__context__]
    return None


def _record(
    session: ContractSession,
    item: pytest.Item,
    report: pytest.TestReport,
    violation: Any,
    incomplete: bool,
    harness_error: str = "",
) -> None:
    """Keep how each test ended, for the summary and the JSON report."""
    if report.when != "call" and report.outcome == "passed":
        return
    reason = ""
    if isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif report.longrepr is not None and report.outcome != "passed":
        lines = str(report.longrepr).strip().splitlines()
        reason = lines[-1][:300] if lines else ""
    existing = next((o for o in session.outcomes if o.nodeid == report.nodeid), None)
    if existing is not None:  # an error while tearing down a test that already ended
        existing.outcome = "harness-error" if harness_error else "error"
        existing.reason, existing.traceback = existing.reason or reason, existing.traceback or harness_error
        return
    outcome: str = report.outcome if report.when == "call" or report.outcome == "skipped" else "error"
    if harness_error:
        outcome = "harness-error"  # never counted as the target's failure
    marker = item.get_closest_marker("canvas_check")
    label = getattr(item, "operation_label", None)
    operation = None
    if isinstance(label, str) and " " in label:
        matched, _ = session.validator.match(*label.split(" ", 1))
        operation = matched.operation_id if matched else label
    session.outcomes.append(
        Outcome(
            report.nodeid,
            outcome,
            tuple(marker.args) if marker else (),
            operation,
            reason,
            incomplete,
            violation,
            report.duration,
            harness_error,
        )
    )


# -- the end ------------------------------------------------------------------------------------
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _CURRENT, _CRASH
    contract = _CURRENT
    if contract is None:
        return
    try:
        _finish(session, contract, exitstatus)
    except Exception as exc:  # a bug of the harness while ending the run: one line, the traceback in a file
        _CURRENT = None
        path = write_traceback(exc, contract.settings.report_dir, context="finishing the contract run")
        _CRASH = HarnessFailure(
            f"the harness itself failed ({type(exc).__name__}) while finishing the run, not the target; "
            f"traceback in {path}"
        )


def _finish(session: pytest.Session, contract: ContractSession, exitstatus: int) -> None:
    global _CURRENT
    stopped = (  # Ctrl-C, not a stop of the run's own
        exitstatus == pytest.ExitCode.INTERRUPTED and contract.unreachable is None and contract.accounts_in_use is None
    )
    contract.interrupted = contract.interrupted or stopped
    try:
        contract.close()
    finally:
        directory = contract.settings.report_dir
        if directory is not None:
            write_reports(contract, directory)
        elif contract.harness_errors:  # no report asked for: the tracebacks still land in a file
            contract.traceback_path = write_traceback(
                HarnessFailure("\n\n".join(o.traceback for o in contract.harness_errors)), None
            )
        _CURRENT = None
    if exitstatus == pytest.ExitCode.OK and contract.incomplete:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a check the user asked for could not run
    if contract.unreachable is not None or contract.accounts_in_use is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # 2, as when the target is unreachable at the start


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    xml = getattr(config.option, "xmlpath", None)
    if xml and _LAST is not None:
        path = Path(xml)
        try:
            write_junit(_LAST, path)  # one test case per check, in place of pytest's per-item file
        except Exception as exc:  # a bug of the harness: keep pytest's file, redacted, and say so once
            written = write_traceback(exc, _LAST.settings.report_dir, context="writing the JUnit file")
            if path.is_file():
                path.write_text(_LAST.redactor(path.read_text(encoding="utf-8")), encoding="utf-8")
            sys.stderr.write(
                f"canvas-ai-harness: the JUnit file is pytest's own: writing it by check failed ({written})\n"
            )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _CRASH is not None:
        terminalreporter.write_line(f"canvas-ai-harness: {_CRASH}")
    elif _LAST is not None:
        terminalreporter.write_sep("=", "canvas-ai-harness contract")
        terminalreporter.write_line(render_summary(_LAST))
