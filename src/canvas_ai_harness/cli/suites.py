"""``contract``, ``load`` and ``check``: the commands that test a Canvas and exit with a verdict.

``load``'s options are the load table's (``load/options.py``), all of them, in its order;
``check`` and ``contract`` take the options they share with it from the same table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from canvas_ai_harness.cli.options import (
    A_FILE,
    max_creates_option,
    max_llm_calls_option,
    option,
    prefixed_option,
    profile_option,
    selection_options,
    typed_command,
)
from canvas_ai_harness.config import PROFILE_CHOICES
from canvas_ai_harness.load.options import LOAD_OPTIONS

__all__ = ["check", "contract", "load"]


def _load_options(command: Any) -> Any:
    for spec in reversed(LOAD_OPTIONS):  # click lists options in the order they decorate
        if spec.cli:
            command = option(spec.name)(command)
    return command


def _command_line(ctx: click.Context) -> list[str]:
    """The command as given: its name and the options set on the command line or in the environment."""
    from canvas_ai_harness.load.options import OPTIONS
    from canvas_ai_harness.load.safety import format_duration

    words = ["canvas-ai-harness", ctx.info_name or "load"]
    for param in ctx.command.params:
        name = param.name or ""
        if not isinstance(param, click.Option) or ctx.get_parameter_source(name) not in _GIVEN:
            continue
        values = ctx.params.get(name)
        duration = name in OPTIONS and OPTIONS[name].kind == "duration"
        for value in values if isinstance(values, tuple | list) else [values]:
            text = format_duration(value) if duration and value is not None else _word(value)
            words += [param.opts[0], text]
    return words


_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _word(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@click.command()
@_load_options
def load(target: Path | None, **options: Any) -> int:
    """Load-test a Canvas (or the embedded mock) with locust; exit 1 when a threshold is missed."""
    from canvas_ai_harness.config import load_target
    from canvas_ai_harness.load import LoadOptions, run_load
    from canvas_ai_harness.load.progress import ProgressEcho

    settings = LoadOptions(target=load_target(target) if target is not None else None, **options)

    def say(line: str) -> None:
        click.echo(f"load: {line}", err=True)

    shown = ProgressEcho.on_stream(sys.stderr, say, settings.progress_every)
    result = run_load(settings, progress=shown, command=_command_line(click.get_current_context()))
    click.echo(result.render())
    return result.exit_code


@click.command()
@option("target", help="Target file (TOML). Without one, an embedded mock Canvas on a free port.")
@profile_option(
    (*PROFILE_CHOICES, "auto"), None, "Behaviour set to expect; auto asks the target. Default: the target file's."
)
@prefixed_option(
    "CANVAS_AI",
    "--max-examples",
    default=10,
    type=click.IntRange(1),
    help="Generated cases per operation.",
)
@option("seed", help="Seed for a repeatable run.")
@prefixed_option("CANVAS_AI", "--junit-xml", type=A_FILE, default=None, help="Write JUnit XML here (tokens redacted).")
@option(
    "report_dir",
    default=None,
    env="CANVAS_AI_REPORT_DIR",
    help="Write contract-report.html, contract-report.json and contract-summary.txt here.",
)
@max_llm_calls_option(
    "AI calls (creates, post_messages) allowed; 0: no limit. Default: none on the mock, 150 otherwise."
)
@max_creates_option("Conversations the run may create; 0: no limit. Default: none on the mock, 35 otherwise.")
@prefixed_option(
    "CANVAS_AI",
    "--rate-limit",
    type=click.FloatRange(0),
    default=None,
    help="Requests per second; 0: no limit. Default: none on the mock, 5 otherwise.",
)
@selection_options
def contract(target: Path | None, junit_xml: Path | None, **settings: Any) -> int:
    """Check that a Canvas keeps the AI Conversations contract (exit 0 keeps, 1 breaks)."""
    from canvas_ai_harness.contract.runner import run_contract
    from canvas_ai_harness.contract.session import Settings

    run = Settings(target_path=None if target is None else str(target), command=tuple(typed_command()), **settings)
    return run_contract(run, junit_xml=junit_xml).exit_code


@click.command()
@option("target", help="Target file (TOML). Without one, the embedded mock Canvas.")
@option(
    "report_dir",
    default=Path("check-report"),
    env="CANVAS_AI_CHECK_REPORT_DIR",
    help="Reports go to DIR/contract and DIR/load; DIR/index.html links them.",
)
@option("seed", help="Seed for a repeatable run.")
@max_llm_calls_option("AI calls the contract suite may make; 0: no limit. Default: none on the mock, 150 otherwise.")
@max_creates_option("Conversations the contract suite may create; 0: no limit. Default: none on the mock, 35 else.")
@option("users", env="CANVAS_AI_CHECK_USERS", help="Load run: users.")
@option("run_time", default=20.0, env="CANVAS_AI_CHECK_RUN_TIME", help="Load run: duration.")
@option("thresholds", help="Load run: thresholds (TOML).")
@option("allow_hosts", help="A non-loopback host the load run may target.")
@selection_options
def check(target: Path | None, **options: Any) -> int:
    """The main job: the contract suite, then a short load run; one summary, one exit code."""
    from canvas_ai_harness.check import CheckOptions, run_check

    settings = CheckOptions(target_path=None if target is None else str(target), argv=tuple(typed_command()), **options)
    result = run_check(settings, echo=lambda line: click.echo(f"check: {line}", err=True))
    click.echo(result.render())
    return result.exit_code
