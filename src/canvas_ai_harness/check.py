"""``canvas-ai-harness check``: the contract suite, then a short load run, one verdict.

The main job: does this Canvas (or the embedded mock) keep the contract, and does it hold a
small load? Before anything costly, the load run's host rail (``--allow-host``) and the preflight
(``preflight.py``: tokens, ids, base_url) run, so a broken setup is exit 2 before any AI call.
The contract suite runs first; when it cannot reach the target (exit 2) or is
interrupted, the load run is not started. Both write their reports under one directory
(``contract/`` and ``load/``). The exit code is the worst of the two: 130 interrupted, 3 the
harness failed, 2 usage or unreachable, 1 a contract break or a missed threshold, 0 both passed.

``index.html`` in the report directory (``templates/check.html.j2``) gives that verdict first, then
each part's verdict, exit code and one-line summary with a link to its own report
(``contract/contract-report.html``, ``load/load-report.html``), or "not run". It is written
however the check ends once the target file is read: a broken setup, a crash, Ctrl-C.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness.config import TARGET_ENV, Target, load_target
from canvas_ai_harness.contract.runner import run_contract
from canvas_ai_harness.contract.session import Settings
from canvas_ai_harness.crash import TRACEBACK_NAME, write_traceback
from canvas_ai_harness.errors import HarnessError, HarnessFailure
from canvas_ai_harness.exits import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_USAGE, verdict_word, worst
from canvas_ai_harness.htmlreport import command_line, write_html
from canvas_ai_harness.load import LoadOptions, LoadResult, run_load
from canvas_ai_harness.load.safety import check_host
from canvas_ai_harness.preflight import preflight
from canvas_ai_harness.redact import Redactor, redact_data

__all__ = ["INDEX", "NOT_RUN", "CheckOptions", "CheckResult", "run_check"]

INDEX: Final = "index.html"
NOT_RUN: Final = "NOT RUN"
# What each part writes for machines, linked from the index when it is there.
_MACHINE_FILES: Final = (
    ("contract: JSON report", "contract/contract-report.json"),
    ("contract: JUnit XML", "contract/junit.xml"),
    ("contract: text summary", "contract/contract-summary.txt"),
    ("contract: harness error", f"contract/{TRACEBACK_NAME}"),
    ("load: summary (JSON)", "load/summary.json"),
    ("load: timeline (CSV)", "load/timeline.csv"),
    ("load: locust's own report", "load/locust.html"),
    ("load: harness error", f"load/{TRACEBACK_NAME}"),
)


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """One ``check`` run. ``target_path`` ``None``: the embedded mock Canvas (and its env variable)."""

    target_path: str | None = None
    report_dir: Path = Path("check-report")
    seed: int | None = None
    max_examples: int = 10
    max_llm_calls: int | None = None
    max_creates: int | None = None
    users: int = 20
    run_time: float = 20.0
    spawn_rate: float = 5.0
    think_scale: float = 0.05  # a conversation (~15 s) fits in the 20 s run (load.pace)
    thresholds: Path | None = None
    allow_hosts: tuple[str, ...] = ()
    only: tuple[str, ...] = ()  # the contract suite's --only/--skip
    skip: tuple[str, ...] = ()
    argv: tuple[str, ...] = ("canvas-ai-harness", "check")  # as typed: the index shows it, redacted


@dataclass(slots=True)
class Part:
    """One part of a check: its exit code (``None``: not run), a one-line summary, its report."""

    name: str
    report: str  # relative to the check's report directory: what the index links
    exit_code: int | None = None
    summary: str = ""

    @property
    def verdict(self) -> str:
        return NOT_RUN if self.exit_code is None else verdict_word(self.exit_code)


@dataclass(slots=True)
class CheckResult:
    """The two parts' exit codes and their one-line summaries."""

    contract_exit: int
    load_exit: int | None  # None: the load run was not started
    lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return worst([self.contract_exit] + ([] if self.load_exit is None else [self.load_exit]))

    def render(self) -> str:
        return "\n".join(
            [
                "== canvas-ai-harness check ==",
                *self.lines,
                f"verdict: {verdict_word(self.exit_code)} (exit {self.exit_code})",
            ]
        )


def run_check(options: CheckOptions, echo: Callable[[str], None] | None = None) -> CheckResult:
    """Run the contract suite, then (unless it could not run) a short load run; write ``index.html``.

    The index is written whatever happens once the target file is read: a broken setup, a part
    that crashes, Ctrl-C. It then says which part did what and which did not run.
    """
    say = echo or (lambda line: None)
    path = options.target_path or os.environ.get(TARGET_ENV) or None
    target = load_target(path) if path else None  # a bad target file fails before anything is sent
    if target is not None:
        check_host(target.base_url, options.allow_hosts)  # the load run's rail, before the contract suite's AI calls
    settings = _settings(options, path)
    index = Index(options.report_dir, options.argv, Redactor(target.secrets() if target is not None else ()))
    running: Part | None = None
    try:
        if target is not None:
            say(preflight(target).line())  # a broken setup: exit 2 in one line, before any AI call
        running = index.contract
        say("contract suite: starting")
        result = _contract(settings, options.report_dir / "contract", index.contract)
        running = index.load
        if result.contract_exit in (EXIT_USAGE, EXIT_INTERRUPTED):
            index.load.summary = "not started: the contract suite could not finish"
        else:
            say("load run: starting")
            _load(options, target, result, index.load, say)
        running = None
    except BaseException as exc:
        code = _exit_of(exc)
        if running is not None and running.exit_code is None:
            running.exit_code, running.summary = code, _crash_line(exc)
        for part in (index.contract, index.load):
            if part.exit_code is None and not part.summary:
                part.summary = "not started"
        index.write(code, None if running is not None else _crash_line(exc), say)
        raise
    index.write(result.exit_code, None, say)
    result.lines.append(f"report: {index.path}")
    return result


def _exit_of(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return exc.exit_code if isinstance(exc, HarnessError) else EXIT_HARNESS


def _crash_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "stopped by Ctrl-C or SIGTERM"
    if isinstance(exc, HarnessError):
        return str(exc)
    return f"the harness itself failed ({type(exc).__name__}), not the target"


class Index:
    """``index.html``: the check's verdict, then each part's, linking its report."""

    def __init__(self, report_dir: Path, argv: tuple[str, ...], redactor: Redactor) -> None:
        self.report_dir = report_dir
        self.path = report_dir / INDEX
        self.redactor = redactor
        self.command = command_line(argv, redactor)
        self.contract = Part("contract", "contract/contract-report.html")
        self.load = Part("load", "load/load-report.html")

    def context(self, exit_code: int, note: str | None) -> dict[str, Any]:
        parts = (self.contract, self.load)
        return {
            "title": "Check",
            "verdict": verdict_word(exit_code),
            "exit_code": exit_code,
            "command": self.command,
            "subtitle": " · ".join(f"{p.name} {p.verdict}" for p in parts),
            "links": [(f"{p.name} report", p.report) for p in parts if p.exit_code is not None],
            "note": note or "",
            "parts": [
                {"name": p.name, "verdict": p.verdict, "exit_code": p.exit_code, "summary": p.summary, "href": p.report}
                for p in parts
            ],
            "files": [(label, href) for label, href in _MACHINE_FILES if (self.report_dir / href).is_file()],
        }

    def write(self, exit_code: int, note: str | None, say: Callable[[str], None]) -> None:
        """Write the index; a directory that cannot take it is said in one line, the verdict stands."""
        try:
            write_html(self.path, "check.html.j2", redact_data(self.context(exit_code, note), self.redactor))
        except OSError as exc:
            say(f"cannot write {self.path} ({exc.strerror}); the verdict stands")


def _settings(options: CheckOptions, path: str | None) -> Settings:
    """The contract part's settings, validated (``--only``/``--skip``) before anything runs or is written."""
    return Settings(
        target_path=path,
        seed=options.seed,
        max_examples=options.max_examples,
        max_llm_calls=options.max_llm_calls,
        max_creates=options.max_creates,
        report_dir=options.report_dir / "contract",
        only=options.only,
        skip=options.skip,
        preflight=False,  # done in run_check
        command=options.argv,
    )


def _contract(settings: Settings, contract_dir: Path, part: Part) -> CheckResult:
    try:
        contract = run_contract(settings, junit_xml=contract_dir / "junit.xml")
    except HarnessError:
        raise
    except Exception as exc:  # a bug of the harness: its own exit code, the traceback in the report
        written = write_traceback(exc, contract_dir, context="check: the contract suite")
        raise HarnessFailure(
            f"the harness itself failed ({type(exc).__name__}) in the contract suite, not the target; "
            f"traceback in {written}"
        ) from exc
    result = CheckResult(contract.exit_code, None)
    part.exit_code = contract.exit_code
    if contract.session is not None:
        counts = Counter(o.outcome for o in contract.session.outcomes)
        part.summary = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "skipped", "error") if counts[k])
        part.summary = part.summary or "nothing ran"
        result.lines.append(f"contract: {verdict_word(contract.exit_code)} ({part.summary}); report in {contract_dir}")
    else:
        part.summary = "stopped before the first test"
        result.lines.append(f"contract: {verdict_word(contract.exit_code)}")
    if contract.exit_code in (EXIT_USAGE, EXIT_INTERRUPTED):
        result.lines.append("load: not started (the contract suite could not finish)")
    return result


def _load(
    options: CheckOptions, target: Target | None, result: CheckResult, part: Part, say: Callable[[str], None]
) -> None:
    load_dir = options.report_dir / "load"
    load_options = LoadOptions(
        target=target,
        users=options.users,
        spawn_rate=options.spawn_rate,
        run_time=options.run_time,
        thresholds=options.thresholds,
        report_dir=load_dir,
        allow_hosts=options.allow_hosts,
        think_scale=options.think_scale,
        seed=options.seed,
    )
    try:
        load: LoadResult = run_load(load_options, echo=lambda line: say(f"load: {line}"), command=options.argv)
    except KeyboardInterrupt:
        line = "INTERRUPTED"
    except HarnessError as exc:
        line = f"{verdict_word(exc.exit_code)} {exc}"
        part.exit_code, part.summary = exc.exit_code, str(exc)
    except Exception as exc:  # a bug of the harness: never a verdict on the target
        written = write_traceback(exc, load_dir, context="check: the load run")
        line = f"HARNESS ERROR ({type(exc).__name__}), not the target; traceback in {written}"
        part.exit_code, part.summary = EXIT_HARNESS, line.removeprefix("HARNESS ERROR ")
    else:
        totals, verdict = load.summary.get("totals", {}), load.summary.get("verdict", {})
        checks, missed = verdict.get("checks", []), verdict.get("missed", [])
        met = sum(1 for c in checks if c.get("passed"))
        part.exit_code = result.load_exit = load.exit_code
        part.summary = f"{totals.get('requests', 0)} requests, {totals.get('rps', 0)}/s"
        part.summary += f"; {met} of {len(checks)} thresholds met" if checks else ""
        part.summary += "".join(f"; missed: {m}" for m in missed)
        result.lines.append(f"load: {verdict_word(load.exit_code)} ({part.summary}); report in {load_dir}")
        return
    if part.exit_code is None:
        part.exit_code, part.summary = EXIT_INTERRUPTED, "stopped by Ctrl-C or SIGTERM"
    result.load_exit = part.exit_code
    result.lines.append(f"load: {line}")
