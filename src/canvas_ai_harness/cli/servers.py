"""``mock`` and ``proxy``: the commands that serve until stopped (the mock Canvas, the spec-checking proxy)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from canvas_ai_harness import budgets
from canvas_ai_harness.cli.options import (
    A_FILE,
    listen_options,
    option,
    parse_latency,
    prefixed_option,
    profile_option,
    server_limit_options,
)
from canvas_ai_harness.config import PLACEHOLDER_VARIABLES, PROFILE_CHOICES, placeholder_target, write_target
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.exits import EXIT_OK

__all__ = ["mock", "proxy"]

F = TypeVar("F", bound=Callable[..., Any])


def _mock_option(flag: str, *names: str, **kwargs: Any) -> Callable[[F], F]:
    return prefixed_option("CANVAS_AI_MOCK", flag, *names, **kwargs)


def _proxy_option(flag: str, *names: str, **kwargs: Any) -> Callable[[F], F]:
    return prefixed_option("CANVAS_AI_PROXY", flag, *names, **kwargs)


def mock_world_options(prefix: str, note: str = "") -> Callable[[F], F]:
    """The options that shape the mock Canvas, declared once: ``mock`` takes them, and ``proxy --mock``
    passes them to its embedded mock (``note`` prefixes each help; variables are ``PREFIX_<FLAG>``)."""

    def opt(flag: str, *names: str, help: str, **kwargs: Any) -> Callable[[F], F]:
        return prefixed_option(prefix, flag, *names, help=note + help, **kwargs)

    decorators: list[Callable[[F], F]] = [
        profile_option(PROFILE_CHOICES, "completed", note + "Which Canvas behaviour set to reproduce."),
        opt(
            "--llm-latency-ms",
            "llm_latency",
            default="0",
            callback=parse_latency,
            help="AI reply time, MEAN or MEAN:JITTER in ms (e.g. 1000:250).",
        ),
        opt(
            "--llm-failure-rate",
            default=0.0,
            type=click.FloatRange(0, 1),
            help="Share of AI calls that fail with Canvas's 503.",
        ),
        opt(
            "--llm-null-id-rate",
            default=0.0,
            type=click.FloatRange(0, 1),
            help="Share of creates where the AI returns no id (201 with id null).",
        ),
        option("seed", help=note + "Seed for latency and failure draws."),
        opt(
            "--max-conversations",
            default=200_000,
            type=click.IntRange(1),
            help="Stored conversations before eviction (completed ones first).",
        ),
        opt(
            "--max-stored-bytes",
            default=budgets.STORED_BYTES,
            type=click.IntRange(1),
            help="Bytes of stored conversations before eviction (completed ones first).",
        ),
        opt(
            "--max-transcript-bytes",
            default=budgets.TRANSCRIPT_BYTES,
            type=click.IntRange(1),
            help="A message that would grow one transcript past this gets 413.",
        ),
        opt(
            "--max-students",
            default=budgets.STUDENTS,
            type=click.IntRange(1),
            help="Students POST /__harness__/students may add in total (until a reset).",
        ),
        opt("--throttle/--no-throttle", default=False, help="Throttle per user with Canvas's leaky bucket."),
        opt("--throttle-capacity", default=800.0, type=click.FloatRange(min=1), help="Leaky bucket capacity."),
        opt("--throttle-outflow", default=10.0, type=click.FloatRange(min=0), help="Units drained per second."),
        opt(
            "--throttle-upfront",
            default=50.0,
            type=click.FloatRange(min=0),
            help="Cost charged while a request is in flight.",
        ),
        opt("--throttle-cost", default=1.0, type=click.FloatRange(min=0), help="Cost of a finished request."),
        opt(
            "--unauthorized-status",
            default=403,
            type=click.Choice(["403", "401"]),
            callback=lambda c, p, v: int(v),
            help="Status for non-members (older Canvas sites: 401).",
        ),
        opt(
            "--more-students",
            "students",
            default=0,
            type=click.IntRange(0, 50),
            help="More students of the course, written as [tokens] students (a run spreads its creates over them).",
        ),
        click.option(
            "--fault",
            "faults",
            multiple=True,
            hidden=True,  # tests only: break the contract on purpose (mock/faults.py)
            callback=lambda c, p, v: _parse_faults(v),
            help="Break the contract in a named way (repeatable; tests only).",
        ),
    ]

    def decorate(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


MOCK_WORLD_KEYS: tuple[str, ...] = (
    "profile",
    "llm_latency",
    "llm_failure_rate",
    "llm_null_id_rate",
    "seed",
    "max_conversations",
    "max_stored_bytes",
    "max_transcript_bytes",
    "max_students",
    "throttle",
    "throttle_capacity",
    "throttle_outflow",
    "throttle_upfront",
    "throttle_cost",
    "unauthorized_status",
    "students",
    "faults",
)  # the parameters mock_world_options() declares


def _mock_config(settings: dict[str, Any]) -> Any:
    """A ``MockConfig`` from the mock's options (``settings`` loses the throttle's five)."""
    from canvas_ai_harness.mock import MockConfig, ThrottleConfig

    throttle = settings.pop("throttle")
    bucket = ThrottleConfig(*(settings.pop(f"throttle_{k}") for k in ("capacity", "outflow", "upfront", "cost")))
    return MockConfig(throttle=bucket if throttle else None, **settings)


@click.command()
@listen_options("CANVAS_AI_MOCK", port=8080)
@mock_world_options("CANVAS_AI_MOCK")
@_mock_option(
    "--max-body-bytes",
    default=budgets.MOCK_BODY_BYTES,
    type=click.IntRange(1),
    help="Larger request bodies get 413 (in profile completed, Canvas takes a message of any length).",
)
@server_limit_options("CANVAS_AI_MOCK")
@_mock_option(
    "--keep-alive",
    "keep_alive_s",
    default=budgets.KEEP_ALIVE_S,
    type=click.FloatRange(0, min_open=True),
    help="Seconds an idle client connection stays open between requests (above a student's think time).",
)
@_mock_option(
    "--write-target", "target_path", type=A_FILE, default=None, help="Write a target file for this mock, then serve."
)
@_mock_option(
    "--placeholders",
    is_flag=True,
    default=False,
    help="With --write-target: write a template for a real Canvas (${CANVAS_..._TOKEN} placeholders, no mock "
    "token or id) and exit without serving.",
)
def mock(
    host: str,
    port: int,
    target_path: Path | None,
    placeholders: bool,
    **settings: Any,
) -> int:
    """Serve the mock Canvas until Ctrl-C (or, with --placeholders, write a target template for a real Canvas)."""
    if placeholders:
        return _write_placeholders(target_path, settings["profile"])
    from canvas_ai_harness.mock import MockServer

    config = _mock_config(settings)
    server = MockServer(config, host=host, port=port)
    target = server.target()
    if target_path is not None:
        try:
            write_target(target, target_path)
        except OSError as exc:
            server.stop()
            raise ConfigError(f"cannot write target file {target_path}: {exc.strerror}") from exc
    click.echo(_banner(server.url, target, target_path))
    if config.faults:
        click.echo(f"Faults injected (tests only): {', '.join(sorted(config.faults))}", err=True)
    server.serve_forever()
    return EXIT_OK


def _write_placeholders(path: Path | None, profile: str) -> int:
    if path is None:
        raise ConfigError("--placeholders writes a target template: give it a path with --write-target PATH")
    try:
        path.write_text(placeholder_target(profile), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write target file {path}: {exc.strerror}") from exc
    variables = ", ".join(v for k, v in PLACEHOLDER_VARIABLES.items() if k != "tokens.admin")  # admin: commented
    click.echo(f"Target template for a real Canvas written to {path}; set {variables} where it runs")
    return EXIT_OK


def _parse_faults(names: tuple[str, ...]) -> frozenset[str]:
    from canvas_ai_harness.mock.faults import FAULTS

    unknown = sorted(set(names) - FAULTS.keys())
    if unknown:
        raise click.BadParameter(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(FAULTS))}")
    return frozenset(names)


def _banner(url: str, target: Any, target_path: Path | None, via: str | None = None) -> str:
    """The mock's address, course, fixed tokens and a ``curl`` line (sent ``via`` the proxy when given)."""
    prefix = (via or url) + target.path()
    tokens = "\n".join(
        f"  {role:<14} {', '.join(token) if isinstance(token, tuple) else token}"
        for role, token in _vars_of(target.tokens).items()
        if token
    )
    lines = [
        f"Mock Canvas (profile {target.profile}) listening on {url}",
        f"  course {target.course_id} (sis_course_id:{target.course_sis_id}), AI experience {target.ai_experience_id}",
        f"  conversations: {prefix}",
        "Tokens (fixed; mock only):",
        tokens,
        f"Try:  curl -s -X POST -H 'Authorization: Bearer {target.tokens.student}' {prefix}",
    ]
    if via is not None:
        lines[2] = f"  conversations, through the proxy: {prefix}"
    if target_path is not None:
        lines.append(f"Target file written to {target_path}")
    if via is None:
        lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


@click.command()
@_proxy_option("--upstream", default=None, help="Canvas base URL to forward to.")
@_proxy_option("--mock", "use_mock", is_flag=True, help="Forward to an embedded mock.")
@listen_options("CANVAS_AI_PROXY", port=8081)
@_proxy_option(
    "--report",
    "report_path",
    type=A_FILE,
    default=Path("conformance-report.json"),
    help="JSON report written on exit, with .txt and .html summaries beside it.",
)
@_proxy_option("--strict", is_flag=True, help="Answer non-conforming requests 400; never forward.")
@_proxy_option("--max-requests", type=click.IntRange(1), default=None, help="Stop after N.")
@_proxy_option(
    "--upstream-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the upstream's answer; then the client gets a 502, counted as a timeout.",
)
@_proxy_option(
    "--max-body-bytes",
    default=budgets.PROXY_BODY_BYTES,
    type=click.IntRange(1),
    help="Larger request bodies get the proxy's own 413 and are not forwarded (smaller ones get Canvas's answer).",
)
@server_limit_options("CANVAS_AI_PROXY")
@mock_world_options("CANVAS_AI_PROXY", note="[--mock] ")
@click.pass_context
def proxy(
    ctx: click.Context,
    /,
    upstream: str | None,
    use_mock: bool,
    host: str,
    port: int,
    report_path: Path,
    strict: bool,
    max_requests: int | None,
    upstream_timeout: float,
    **settings: Any,
) -> int:
    """Check a client's traffic against the spec on its way to Canvas; write a conformance report on exit.

    With --mock, the embedded mock Canvas takes the mock command's options (--profile,
    --llm-failure-rate, --throttle...), so a client can meet every answer without a second terminal.

    Exit code 0: every request and response conformed and the upstream answered each; 1: at least
    one did not conform, or the upstream failed some (refused, reset, timed out, still waiting at
    the stop); 2: the upstream answered none of them.
    """
    from canvas_ai_harness.proxy import ProxyConfig, run_proxy

    if (upstream is None) == (not use_mock):
        raise click.UsageError("give exactly one of --upstream URL and --mock")
    world = {key: settings.pop(key) for key in MOCK_WORLD_KEYS}
    # Typed on the command line only: a variable such as CANVAS_AI_PROFILE may be set for other commands.
    given = [key for key in MOCK_WORLD_KEYS if ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE]
    if given and not use_mock:
        flag = next(p.opts[0] for p in ctx.command.params if p.name == given[0])
        raise click.UsageError(f"{flag} shapes the embedded mock: add --mock (or leave it out with --upstream)")
    config = ProxyConfig(
        upstream or "",
        strict=strict,
        max_requests=max_requests,
        report_path=report_path,
        timeout_s=upstream_timeout,
        **settings,
    )
    report = run_proxy(
        config,
        host=host,
        port=port,
        mock=_mock_config(world) if use_mock else False,
        announce=lambda line: click.echo(line, err=True),
        banner=lambda proxy_url, mock_url, target: _banner(mock_url, target, None, via=proxy_url),
    )
    click.echo(report.to_text(), nl=False)
    click.echo(f"Report written to {report_path} (and .txt, .html beside it)", err=True)
    if report.upstream_unreachable:
        click.echo(f"canvas-ai-harness: error: {report.verdict()}", err=True)
    return report.exit_code()
