"""``canvas-ai-harness contract``: run the contract suite in this process and return an exit code.

The suite is ``contract_tests/`` (its own ``pytest.ini`` and ``conftest.py`` load the plugin in
``contract/plugin.py``). A source checkout runs the copy at the repository's top; a wheel carries
the same directory as ``canvas_ai_harness/contract_tests`` (pyproject.toml, ``force-include``).

pytest runs in-process: the process pays for importing schemathesis once, and the run's session
(results, cleanup, reports) is at hand afterwards. The suite's modules are dropped from
``sys.modules`` after each run, so that a later run in the same process (the harness's own tests)
collects them afresh with its own settings.

Exit codes: 0 the target keeps the contract; 1 it broke it, or a check could not run (budget,
throttling); 2 a usage or configuration error, or the target is unreachable; 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from canvas_ai_harness.config import TARGET_ENV, load_target
from canvas_ai_harness.contract import plugin
from canvas_ai_harness.contract.report import exit_code
from canvas_ai_harness.contract.session import ContractSession, Settings, prepare_report_dir
from canvas_ai_harness.errors import ConfigError, HarnessError, HarnessFailure
from canvas_ai_harness.exits import EXIT_INTERRUPTED, EXIT_USAGE
from canvas_ai_harness.preflight import preflight

__all__ = ["ContractResult", "run_contract", "suite_path"]

_PACKAGED = Path(__file__).resolve().parents[1] / "contract_tests"
_CHECKOUT = Path(__file__).resolve().parents[3] / "contract_tests"


@dataclass(slots=True)
class ContractResult:
    """The exit code of a run, and its session (``None`` when it never started)."""

    exit_code: int
    session: ContractSession | None


def suite_path() -> Path:
    """Where ``contract_tests/`` is: the checkout's copy, else the one the wheel carries."""
    for candidate in (_CHECKOUT, _PACKAGED):
        if (candidate / "conftest.py").is_file():
            return candidate
    raise HarnessError(
        f"the contract suite was not found (looked at {_CHECKOUT} and {_PACKAGED}); reinstall canvas-ai-harness"
    )


def run_contract(
    settings: Settings,
    *,
    junit_xml: Path | None = None,
    modules: Sequence[str] = (),
    pytest_args: Sequence[str] = (),
) -> ContractResult:
    """Run the contract suite against ``settings``' target (or an embedded mock Canvas).

    A target that cannot be loaded or reached, or fails the preflight (a refused token, an unknown
    id...), raises a ``HarnessError`` before anything runs.
    ``modules`` narrows the run to some of the suite's modules (``test_lifecycle.py``...), and
    ``pytest_args`` go to pytest as they are; the harness's own tests use both to stay fast.
    """
    path = settings.target_path or os.environ.get(TARGET_ENV) or None
    if path is not None and settings.preflight:
        preflight(load_target(path))  # before any AI call; the session then only checks it still answers
    prepare_report_dir(settings.report_dir)
    suite = suite_path()
    unknown = [m for m in modules if not (suite / m).is_file()]
    if unknown:
        raise ConfigError(f"no module {', '.join(unknown)} in the contract suite at {suite}")
    args = [
        *([str(suite / m) for m in modules] or [str(suite)]),
        "-c",
        str(suite / "pytest.ini"),
        f"--rootdir={suite}",
        "-q",
        "--tb=no",
        "-rN",  # the suite's own summary says it all
        "-p",
        "no:cacheprovider",
        "--assert=plain",  # the checks explain themselves; and the plugin is imported before pytest starts
        f"--max-examples={settings.max_examples}",
        f"--max-steps={settings.max_steps}",
        f"--retry-base={settings.retry_base}",
        *(["--preflight-done"] if path is not None else []),
    ]
    optional = {
        "--target": settings.target_path,
        "--profile": settings.profile,
        "--seed": settings.seed,
        "--max-llm-calls": settings.max_llm_calls,
        "--max-creates": settings.max_creates,
        "--rate-limit": settings.rate_limit,
        "--report-dir": settings.report_dir,
        "--junitxml": junit_xml,
    }
    args += [f"{name}={value}" for name, value in optional.items() if value is not None]
    args += [f"--only={name}" for name in settings.only] + [f"--skip={name}" for name in settings.skip]
    if settings.command:
        args.append(f"--harness-command={json.dumps(list(settings.command))}")
    args += list(pytest_args)
    before = set(sys.modules)
    try:
        code = pytest.main(args)
    finally:
        _forget_suite_modules(suite, before)
    session = plugin.last_session()
    crash = plugin.last_crash()
    if crash is not None:  # the harness failed: never a verdict on the target
        raise crash
    if session is None:
        if code == pytest.ExitCode.INTERRUPTED:
            return ContractResult(EXIT_INTERRUPTED, None)
        raise ConfigError(f"the contract suite could not start (pytest exit code {int(code)}; see above)")
    if session.interrupted or session.unreachable or session.accounts_in_use:
        return ContractResult(exit_code(session), session)
    if code == pytest.ExitCode.INTERNAL_ERROR:  # pytest or the plugin crashed: the harness, not the target
        raise HarnessFailure(
            f"the harness itself failed (pytest internal error) after {len(session.outcomes)} tests, not the "
            "target; see the INTERNALERROR lines above"
        )
    if code == pytest.ExitCode.USAGE_ERROR:
        raise ConfigError(f"the contract suite could not run (pytest exit code {int(code)}; see above)")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        return ContractResult(EXIT_USAGE, session)
    return ContractResult(exit_code(session), session)


def _forget_suite_modules(suite: Path, before: set[str]) -> None:
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file and Path(module_file).resolve().is_relative_to(suite):
            del sys.modules[name]
