"""The ``canvas-ai-harness`` command: one click group, each subcommand a thin layer over a library call.

Exit codes: 0 pass; 1 the target broke the contract or a threshold; 2 a usage or configuration
error, or the target is unreachable; 130 interrupted. A user error prints one line, never a
traceback. Every option can also be set through the environment variable shown in ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from canvas_ai_harness import __version__
from canvas_ai_harness.config import PROFILE_CHOICES, write_target
from canvas_ai_harness.errors import ConfigError, HarnessError
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="canvas-ai-harness")
def cli() -> None:
    """Contract and load testing for the Canvas LMS AI Conversations API."""


def _parse_latency(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from canvas_ai_harness.mock.llm import Latency

    try:
        return Latency.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--host", default="127.0.0.1", envvar="CANVAS_AI_MOCK_HOST", help="Address to listen on.")
@click.option(
    "--port", default=8080, type=click.IntRange(0, 65535), envvar="CANVAS_AI_MOCK_PORT", help="Port (0: any free port)."
)
@click.option(
    "--profile",
    type=click.Choice(PROFILE_CHOICES),
    default="completed",
    envvar="CANVAS_AI_PROFILE",
    help="Which Canvas behaviour set to reproduce.",
)
@click.option(
    "--llm-latency-ms",
    "latency",
    default="0",
    callback=_parse_latency,
    envvar="CANVAS_AI_MOCK_LLM_LATENCY_MS",
    help="AI reply time, MEAN or MEAN:JITTER in ms (e.g. 1000:250).",
)
@click.option(
    "--llm-failure-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    envvar="CANVAS_AI_MOCK_LLM_FAILURE_RATE",
    help="Share of AI calls that fail with Canvas's 503.",
)
@click.option(
    "--llm-null-id-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    envvar="CANVAS_AI_MOCK_LLM_NULL_ID_RATE",
    help="Share of creates where the AI returns no id (201 with id null).",
)
@click.option("--seed", type=int, default=None, envvar="CANVAS_AI_SEED", help="Seed for latency and failure draws.")
@click.option(
    "--max-conversations",
    default=200_000,
    type=click.IntRange(1),
    envvar="CANVAS_AI_MOCK_MAX_CONVERSATIONS",
    help="Stored conversations before eviction (completed ones first).",
)
@click.option(
    "--max-body-bytes",
    default=1_048_576,
    type=click.IntRange(1),
    envvar="CANVAS_AI_MOCK_MAX_BODY_BYTES",
    help="Larger request bodies get 413.",
)
@click.option(
    "--throttle/--no-throttle",
    default=False,
    envvar="CANVAS_AI_MOCK_THROTTLE",
    help="Throttle per user with Canvas's leaky bucket.",
)
@click.option(
    "--throttle-capacity",
    envvar="CANVAS_AI_MOCK_THROTTLE_CAPACITY",
    default=800.0,
    type=click.FloatRange(min=1),
    help="Leaky bucket capacity.",
)
@click.option(
    "--throttle-outflow",
    envvar="CANVAS_AI_MOCK_THROTTLE_OUTFLOW",
    default=10.0,
    type=click.FloatRange(min=0),
    help="Units drained per second.",
)
@click.option(
    "--throttle-upfront",
    envvar="CANVAS_AI_MOCK_THROTTLE_UPFRONT",
    default=50.0,
    type=click.FloatRange(min=0),
    help="Cost charged while a request is in flight.",
)
@click.option(
    "--throttle-cost",
    envvar="CANVAS_AI_MOCK_THROTTLE_COST",
    default=1.0,
    type=click.FloatRange(min=0),
    help="Cost of a finished request.",
)
@click.option(
    "--unauthorized-status",
    envvar="CANVAS_AI_MOCK_UNAUTHORIZED_STATUS",
    default=403,
    type=click.Choice(["403", "401"]),
    callback=lambda c, p, v: int(v),
    help="Status for non-members (older Canvas sites: 401).",
)
@click.option(
    "--write-target",
    "target_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="CANVAS_AI_MOCK_WRITE_TARGET",
    help="Write a target file for this mock, then serve.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    hidden=True,  # tests only: break the contract on purpose (mock/faults.py)
    callback=lambda c, p, v: _parse_faults(v),
    help="Break the contract in a named way (repeatable; tests only).",
)
def mock(
    host: str,
    port: int,
    profile: str,
    latency: Any,
    llm_failure_rate: float,
    llm_null_id_rate: float,
    seed: int | None,
    max_conversations: int,
    max_body_bytes: int,
    throttle: bool,
    throttle_capacity: float,
    throttle_outflow: float,
    throttle_upfront: float,
    throttle_cost: float,
    unauthorized_status: int,
    target_path: Path | None,
    faults: frozenset[str],
) -> int:
    """Serve the mock Canvas until Ctrl-C."""
    from canvas_ai_harness.mock import MockConfig, MockServer, ThrottleConfig

    config = MockConfig(
        profile=profile,
        llm_latency=latency,
        llm_failure_rate=llm_failure_rate,
        llm_null_id_rate=llm_null_id_rate,
        seed=seed,
        max_conversations=max_conversations,
        max_body_bytes=max_body_bytes,
        throttle=ThrottleConfig(throttle_capacity, throttle_outflow, throttle_upfront, throttle_cost)
        if throttle
        else None,
        unauthorized_status=unauthorized_status,
        faults=faults,
    )
    server = MockServer(config, host=host, port=port)
    target = server.target()
    if target_path is not None:
        try:
            write_target(target, target_path)
        except OSError as exc:
            server.stop()
            raise ConfigError(f"cannot write target file {target_path}: {exc.strerror}") from exc
    click.echo(_banner(server.url, target, target_path))
    if faults:
        click.echo(f"Faults injected (tests only): {', '.join(sorted(faults))}", err=True)
    server.serve_forever()
    return EXIT_OK


def _parse_faults(names: tuple[str, ...]) -> frozenset[str]:
    from canvas_ai_harness.mock.faults import FAULTS

    unknown = sorted(set(names) - FAULTS.keys())
    if unknown:
        raise click.BadParameter(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(FAULTS))}")
    return frozenset(names)


def _banner(url: str, target: Any, target_path: Path | None) -> str:
    prefix = f"{url}/api/v1/courses/{target.course_id}/ai_experiences/{target.ai_experience_id}/conversations"
    tokens = "\n".join(f"  {role:<14} {token}" for role, token in vars_of(target.tokens).items() if token)
    lines = [
        f"Mock Canvas (profile {target.profile}) listening on {url}",
        f"  course {target.course_id} (sis_course_id:{target.course_sis_id}), AI experience {target.ai_experience_id}",
        f"  conversations: {prefix}",
        "Tokens (fixed; mock only):",
        tokens,
        f"Try:  curl -s -X POST -H 'Authorization: Bearer {target.tokens.student}' {prefix}",
    ]
    if target_path is not None:
        lines.append(f"Target file written to {target_path}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


@cli.command()
@click.option("--upstream", default=None, envvar="CANVAS_AI_PROXY_UPSTREAM", help="Canvas base URL to forward to.")
@click.option("--mock", "use_mock", is_flag=True, envvar="CANVAS_AI_PROXY_MOCK", help="Forward to an embedded mock.")
@click.option("--host", default="127.0.0.1", envvar="CANVAS_AI_PROXY_HOST", help="Address to listen on.")
@click.option(
    "--port",
    default=8081,
    type=click.IntRange(0, 65535),
    envvar="CANVAS_AI_PROXY_PORT",
    help="Port (0: any free port).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("conformance-report.json"),
    envvar="CANVAS_AI_PROXY_REPORT",
    help="JSON report written on exit, with .txt and .html summaries beside it.",
)
@click.option(
    "--strict", is_flag=True, envvar="CANVAS_AI_PROXY_STRICT", help="Answer non-conforming requests 400; never forward."
)
@click.option(
    "--max-requests", type=click.IntRange(1), default=None, envvar="CANVAS_AI_PROXY_MAX_REQUESTS", help="Stop after N."
)
def proxy(
    upstream: str | None,
    use_mock: bool,
    host: str,
    port: int,
    report_path: Path,
    strict: bool,
    max_requests: int | None,
) -> int:
    """Check a client's traffic against the spec on its way to Canvas; write a conformance report on exit.

    Exit code 0: every request and response conformed; 1: at least one did not.
    """
    from canvas_ai_harness.proxy import ProxyConfig, run_proxy

    if (upstream is None) == (not use_mock):
        raise click.UsageError("give exactly one of --upstream URL and --mock")
    config = ProxyConfig(upstream or "", strict=strict, max_requests=max_requests, report_path=report_path)
    report = run_proxy(config, host=host, port=port, mock=use_mock, announce=lambda line: click.echo(line, err=True))
    click.echo(report.to_text(), nl=False)
    click.echo(f"Report written to {report_path} (and .txt, .html beside it)", err=True)
    return EXIT_OK if report.passed else EXIT_FAILED


def _parse_duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from canvas_ai_harness.load.safety import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command()
@click.option(
    "--target",
    "target_path",
    type=_FILE,
    default=None,
    envvar="CANVAS_AI_TARGET",
    help="Target file; none: the embedded mock.",
)
@click.option(
    "--users", default=20, type=click.IntRange(1), envvar="CANVAS_AI_LOAD_USERS", help="Simulated users (peak)."
)
@click.option(
    "--spawn-rate",
    default=5.0,
    type=click.FloatRange(min=0.01),
    envvar="CANVAS_AI_LOAD_SPAWN_RATE",
    help="Users started per second.",
)
@click.option(
    "--run-time", default="1m", callback=_parse_duration, envvar="CANVAS_AI_LOAD_RUN_TIME", help="e.g. 90s, 5m, 1h30m."
)
@click.option(
    "--shape", type=click.Choice(["steady", "ramp", "spike", "soak"]), default="steady", envvar="CANVAS_AI_LOAD_SHAPE"
)
@click.option(
    "--students", type=_FILE, default=None, envvar="CANVAS_AI_LOAD_STUDENTS", help="CSV: token or user_id [,role]."
)
@click.option(
    "--thresholds", type=_FILE, default=None, envvar="CANVAS_AI_LOAD_THRESHOLDS", help="Thresholds file (TOML)."
)
@click.option(
    "--processes",
    default=0,
    type=click.IntRange(0),
    envvar="CANVAS_AI_LOAD_PROCESSES",
    help="Workers (0: one process).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("load-report"),
    envvar="CANVAS_AI_LOAD_REPORT_DIR",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    envvar="CANVAS_AI_LOAD_ALLOW_HOST",
    help="A non-loopback host you may load.",
)
@click.option(
    "--max-users", default=10_000, type=click.IntRange(1), envvar="CANVAS_AI_LOAD_MAX_USERS", help="Cap on --users."
)
@click.option(
    "--max-run-time",
    default="4h",
    callback=_parse_duration,
    envvar="CANVAS_AI_LOAD_MAX_RUN_TIME",
    help="Cap on --run-time.",
)
@click.option(
    "--teachers",
    type=click.IntRange(0),
    default=None,
    envvar="CANVAS_AI_LOAD_TEACHERS",
    help="Teacher users [default: 1].",
)
@click.option(
    "--think-scale",
    default=1.0,
    type=click.FloatRange(min=0),
    envvar="CANVAS_AI_LOAD_THINK_SCALE",
    help="0: no think time.",
)
@click.option("--contract-sample", default=0.05, type=click.FloatRange(0, 1), envvar="CANVAS_AI_LOAD_CONTRACT_SAMPLE")
@click.option(
    "--mock-llm-latency-ms",
    "mock_latency",
    default="1000:250",
    callback=lambda c, p, v: _parse_latency(c, p, v) and v,
    envvar="CANVAS_AI_LOAD_MOCK_LATENCY",
    help="The embedded mock's AI time, MEAN[:JITTER] ms.",
)
@click.option("--seed", type=int, default=None, envvar="CANVAS_AI_SEED", help="Seed for the users' behaviour.")
def load(
    target_path: Path | None, run_time: float, max_run_time: float, allow_hosts: tuple[str, ...], **options: Any
) -> int:
    """Load-test a Canvas (or the embedded mock) with locust; exit 1 when a threshold is missed."""
    from canvas_ai_harness.config import load_target
    from canvas_ai_harness.load import LoadOptions, run_load

    target = load_target(target_path) if target_path is not None else None
    settings = LoadOptions(
        target=target, run_time=run_time, max_run_time=max_run_time, allow_hosts=allow_hosts, **options
    )
    result = run_load(settings, echo=lambda line: click.echo(f"load: {line}", err=True))
    click.echo(result.render())
    return result.exit_code


@cli.command()
@click.option(
    "--target",
    "target_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="CANVAS_AI_TARGET",
    help="Target file (TOML). Without one, an embedded mock Canvas on a free port.",
)
@click.option(
    "--profile",
    type=click.Choice(["completed", "ended", "auto"]),
    default=None,
    envvar="CANVAS_AI_PROFILE",
    help="Behaviour set to expect; auto asks the target. Default: the target file's.",
)
@click.option(
    "--max-examples",
    default=10,
    type=click.IntRange(1),
    envvar="CANVAS_AI_MAX_EXAMPLES",
    help="Generated cases per operation.",
)
@click.option("--seed", type=int, default=None, envvar="CANVAS_AI_SEED", help="Seed for a repeatable run.")
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="CANVAS_AI_JUNIT_XML",
    help="Write JUnit XML here (tokens redacted).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="CANVAS_AI_REPORT_DIR",
    help="Write contract-report.json and contract-summary.txt here.",
)
@click.option(
    "--max-llm-calls",
    type=click.IntRange(0),
    default=None,
    envvar="CANVAS_AI_MAX_LLM_CALLS",
    help="AI calls (creates, post_messages) allowed; 0: no limit. Default: none on the mock, 150 otherwise.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(0),
    default=None,
    envvar="CANVAS_AI_RATE_LIMIT",
    help="Requests per second; 0: no limit. Default: none on the mock, 5 otherwise.",
)
def contract(
    target_path: str | None,
    profile: str | None,
    max_examples: int,
    seed: int | None,
    junit_xml: Path | None,
    report_dir: Path | None,
    max_llm_calls: int | None,
    rate_limit: float | None,
) -> int:
    """Check that a Canvas keeps the AI Conversations contract (exit 0 keeps, 1 breaks)."""
    from canvas_ai_harness.contract.runner import run_contract
    from canvas_ai_harness.contract.session import Settings

    settings = Settings(
        target_path=target_path,
        profile=profile,
        max_examples=max_examples,
        seed=seed,
        max_llm_calls=max_llm_calls,
        rate_limit=rate_limit,
        report_dir=report_dir,
    )
    return run_contract(settings, junit_xml=junit_xml).exit_code


@cli.command()
@click.option(
    "--target",
    "target_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="CANVAS_AI_TARGET",
    help="Target file (TOML). Without one, the embedded mock Canvas.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("check-report"),
    envvar="CANVAS_AI_CHECK_REPORT_DIR",
    help="Reports go to DIR/contract and DIR/load.",
)
@click.option("--seed", type=int, default=None, envvar="CANVAS_AI_SEED", help="Seed for a repeatable run.")
@click.option(
    "--max-llm-calls",
    type=click.IntRange(0),
    default=None,
    envvar="CANVAS_AI_MAX_LLM_CALLS",
    help="AI calls the contract suite may make; 0: no limit. Default: none on the mock, 150 otherwise.",
)
@click.option("--users", default=20, type=click.IntRange(1), envvar="CANVAS_AI_CHECK_USERS", help="Load run: users.")
@click.option(
    "--run-time",
    default="20s",
    callback=_parse_duration,
    envvar="CANVAS_AI_CHECK_RUN_TIME",
    help="Load run: duration.",
)
@click.option(
    "--thresholds", type=_FILE, default=None, envvar="CANVAS_AI_LOAD_THRESHOLDS", help="Load run: thresholds (TOML)."
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    envvar="CANVAS_AI_LOAD_ALLOW_HOST",
    help="A non-loopback host the load run may target.",
)
def check(
    target_path: str | None,
    report_dir: Path,
    seed: int | None,
    max_llm_calls: int | None,
    users: int,
    run_time: float,
    thresholds: Path | None,
    allow_hosts: tuple[str, ...],
) -> int:
    """The main job: the contract suite, then a short load run; one summary, one exit code."""
    from canvas_ai_harness.check import CheckOptions, run_check

    options = CheckOptions(
        target_path=target_path,
        report_dir=report_dir,
        seed=seed,
        max_llm_calls=max_llm_calls,
        users=users,
        run_time=run_time,
        thresholds=thresholds,
        allow_hosts=allow_hosts,
    )
    result = run_check(options, echo=lambda line: click.echo(f"check: {line}", err=True))
    click.echo(result.render())
    return result.exit_code


def _show_envvars(group: click.Group) -> None:
    """List each option's environment variable in ``--help`` (click hides them unless asked)."""
    for command in group.commands.values():
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                param.show_envvar = True


_show_envvars(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script's entry point)."""
    try:
        result = cli.main(args=argv, prog_name="canvas-ai-harness", standalone_mode=False)
    except HarnessError as exc:
        click.echo(f"canvas-ai-harness: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("canvas-ai-harness: interrupted", err=True)
        return EXIT_INTERRUPTED
    return int(result) if isinstance(result, int) else EXIT_OK


def run() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
