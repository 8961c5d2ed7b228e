"""``canvas-ai-harness check``: the contract suite, then a short load run, one verdict.

The main job: does this Canvas (or the embedded mock) keep the contract, and does it hold a
small load? Before anything costly, the load run's host rail (``--allow-host``) and the preflight
(``preflight.py``: tokens, ids, base_url) run, so a broken setup is exit 2 before any AI call.
The contract suite runs first; when it cannot reach the target (exit 2) or is
interrupted, the load run is not started. Both write their reports under one directory
(``contract/`` and ``load/``). The exit code is the worst of the two: 130 interrupted, 2 usage or
unreachable, 1 a contract break or a missed threshold, 0 both passed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from canvas_ai_harness.config import TARGET_ENV, load_target
from canvas_ai_harness.contract.runner import run_contract
from canvas_ai_harness.contract.session import Settings
from canvas_ai_harness.crash import write_traceback
from canvas_ai_harness.errors import HarnessError, HarnessFailure
from canvas_ai_harness.exits import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_USAGE, verdict_word, worst
from canvas_ai_harness.load import LoadOptions, LoadResult, run_load
from canvas_ai_harness.load.safety import check_host
from canvas_ai_harness.preflight import preflight

__all__ = ["CheckOptions", "CheckResult", "run_check"]


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
    """Run the contract suite, then (unless it could not run) a short load run."""
    say = echo or (lambda line: None)
    path = options.target_path or os.environ.get(TARGET_ENV) or None
    target = load_target(path) if path else None  # a bad target file fails before anything is sent
    if target is not None:
        check_host(target.base_url, options.allow_hosts)  # the load run's rail, before the contract suite's AI calls
        say(preflight(target).line())  # a broken setup: exit 2 in one line, before any AI call
    contract_dir, load_dir = options.report_dir / "contract", options.report_dir / "load"
    settings = Settings(
        target_path=path,
        seed=options.seed,
        max_examples=options.max_examples,
        max_llm_calls=options.max_llm_calls,
        max_creates=options.max_creates,
        report_dir=contract_dir,
        only=options.only,
        skip=options.skip,
        preflight=False,  # done above
    )
    say("contract suite: starting")
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
    if contract.session is not None:
        counts = Counter(o.outcome for o in contract.session.outcomes)
        summary = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "skipped", "error") if counts[k])
        result.lines.append(
            f"contract: {verdict_word(contract.exit_code)} ({summary or 'nothing ran'}); report in {contract_dir}"
        )
    else:
        result.lines.append(f"contract: {verdict_word(contract.exit_code)}")
    if contract.exit_code in (EXIT_USAGE, EXIT_INTERRUPTED):
        result.lines.append("load: not started (the contract suite could not finish)")
        return result

    say("load run: starting")
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
        load: LoadResult = run_load(load_options, echo=lambda line: say(f"load: {line}"))
    except KeyboardInterrupt:
        result.load_exit = EXIT_INTERRUPTED
        result.lines.append("load: INTERRUPTED")
        return result
    except HarnessError as exc:
        result.load_exit = exc.exit_code
        result.lines.append(f"load: {verdict_word(exc.exit_code)} {exc}")
        return result
    except Exception as exc:  # a bug of the harness: never a verdict on the target
        written = write_traceback(exc, load_dir, context="check: the load run")
        result.load_exit = EXIT_HARNESS
        result.lines.append(f"load: HARNESS ERROR ({type(exc).__name__}), not the target; traceback in {written}")
        return result
    result.load_exit = load.exit_code
    totals = load.summary.get("totals", {})
    missed = load.summary.get("verdict", {}).get("missed", [])
    detail = f"{totals.get('requests', 0)} requests, {totals.get('rps', 0)}/s"
    result.lines.append(f"load: {verdict_word(load.exit_code)} ({detail}); report in {load_dir}")
    result.lines += [f"  missed: {line}" for line in missed]
    return result
