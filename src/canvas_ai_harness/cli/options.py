"""Options that several commands share, each declared once.

``option(name)`` turns an entry of the load table (``load/options.py``) into a click option:
``load`` takes all of its own from there, and ``check``, ``contract`` and ``mock`` take the ones
they share with it (``--target``, ``--seed``, ``--report-dir``, ``--users``, ``--run-time``,
``--thresholds``, ``--allow-host``) from there too, changing only what differs for them
(default, help, and the variable of a per-command value such as ``--report-dir``). The rest (``--profile``,
``--max-llm-calls``, ``--max-creates``, ``--host``/``--port``) are factories here.

Every option has an environment variable, named by one convention: ``PREFIX_<FLAG>``, where the
prefix is the command's (``CANVAS_AI_MOCK``, ``CANVAS_AI_PROXY``, ``CANVAS_AI_LOAD``...) and
plain ``CANVAS_AI`` for an option that means the same to every command (``CANVAS_AI_TARGET``,
``CANVAS_AI_SEED``, ``CANVAS_AI_PROFILE``). ``--help`` shows it (``show_envvar``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from canvas_ai_harness.load.options import OPTIONS, LoadOption

__all__ = [
    "A_FILE",
    "listen_options",
    "max_creates_option",
    "max_llm_calls_option",
    "option",
    "parse_duration",
    "parse_latency",
    "prefixed_option",
    "profile_option",
    "selection_options",
    "server_limit_options",
    "typed_command",
]

F = TypeVar("F", bound=Callable[..., Any])
A_FILE = click.Path(dir_okay=False, path_type=Path)  # a file to read later or to write: a target, a report


def parse_latency(ctx: click.Context | None, param: click.Parameter | None, value: str) -> Any:
    """``MEAN[:JITTER]`` ms as a ``Latency``; a click error naming the option otherwise."""
    from canvas_ai_harness.mock.llm import Latency

    try:
        return Latency.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def parse_duration(ctx: click.Context | None, param: click.Parameter | None, value: str) -> float:
    """``90s``, ``5m``, ``1h30m`` or seconds, as seconds."""
    from canvas_ai_harness.load.safety import parse_duration as parse

    try:
        return parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _latency_text(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parse_latency(ctx, param, value)
    return value


def _click_type(spec: LoadOption) -> dict[str, Any]:
    """click's ``type`` (and callback, for durations and latencies) for a table entry's kind."""
    kind = spec.kind
    if kind == "int":
        return {"type": int if spec.low is None else click.IntRange(int(spec.low))}
    if kind == "float":
        bounded = spec.low is not None or spec.high is not None
        return {"type": click.FloatRange(spec.low, spec.high) if bounded else float}
    if kind == "duration":
        return {"callback": parse_duration}
    if kind == "latency":
        return {"callback": _latency_text}
    if kind == "choice":
        return {"type": click.Choice(spec.choices)}
    if kind == "target":  # read (and refused with one line) by load_target
        return {"type": A_FILE}
    if kind == "file":
        return {"type": click.Path(exists=True, dir_okay=False, path_type=Path)}
    if kind == "dir":
        return {"type": click.Path(file_okay=False, path_type=Path)}
    return {}


def _shown(spec: LoadOption) -> Any:
    if spec.kind == "duration" and spec.default is not None:
        from canvas_ai_harness.load.safety import format_duration

        return format_duration(spec.default)  # shown and parsed as the user types it: 1m, 4h
    return spec.default


def option(name: str, **changes: Any) -> Callable[[F], F]:
    """The click option for the load table's entry ``name``; ``changes`` replace its fields."""
    spec = dataclasses.replace(OPTIONS[name], **changes) if changes else OPTIONS[name]
    return click.option(
        spec.flag,
        spec.name,
        default=_shown(spec),
        envvar=spec.env,
        help=spec.help,
        multiple=spec.multiple,
        show_envvar=True,
        **_click_type(spec),
    )


def typed_command() -> list[str]:
    """The running command as the user typed it (``main`` keeps its argv), for a report's header.

    Not redacted: the report redacts it part by part (``htmlreport.command_line``).
    """
    ctx = click.get_current_context()
    argv = (ctx.find_root().obj or {}).get("argv")
    return ["canvas-ai-harness", *argv] if argv is not None else ctx.command_path.split()


def prefixed_option(prefix: str, flag: str, *names: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option(flag, ...)`` whose environment variable is ``PREFIX_<FLAG>``."""
    env = flag.split("/")[0].removeprefix("--").replace("-", "_").upper()
    return click.option(flag, *names, envvar=f"{prefix}_{env}", show_envvar=True, **kwargs)


def profile_option(choices: tuple[str, ...], default: str | None, help: str) -> Callable[[F], F]:
    return prefixed_option("CANVAS_AI", "--profile", type=click.Choice(choices), default=default, help=help)


def max_llm_calls_option(help: str) -> Callable[[F], F]:
    return prefixed_option("CANVAS_AI", "--max-llm-calls", type=click.IntRange(0), default=None, help=help)


def selection_options(command: F) -> F:
    """``--only CHECK`` and ``--skip CHECK`` (repeatable, or comma-separated; ``CANVAS_AI_ONLY``/``_SKIP``)."""
    for flag, what in (("--skip", "Do not run these checks"), ("--only", "Run only these checks")):
        command = prefixed_option(
            "CANVAS_AI",
            flag,
            flag[2:],
            multiple=True,
            metavar="CHECK",
            help=f"{what} (names such as create-answers-201; repeatable or comma-separated).",
        )(command)
    return command


def max_creates_option(help: str) -> Callable[[F], F]:
    return prefixed_option("CANVAS_AI", "--max-creates", type=click.IntRange(0), default=None, help=help)


def listen_options(env_prefix: str, port: int) -> Callable[[F], F]:
    """``--host`` and ``--port`` of a server command (the mock, the proxy)."""
    host_option = prefixed_option(env_prefix, "--host", default="127.0.0.1", help="Address to listen on.")
    port_option = prefixed_option(
        env_prefix, "--port", default=port, type=click.IntRange(0, 65535), help="Port (0: any free port)."
    )

    def decorate(command: F) -> F:
        return host_option(port_option(command))

    return decorate


def server_limit_options(env_prefix: str) -> Callable[[F], F]:
    """``--max-header-bytes``, ``--read-timeout-s`` and ``--max-idle-connections`` of a server command."""
    from canvas_ai_harness.budgets import DEFAULT_HEADER_BYTES, DEFAULT_READ_TIMEOUT_S

    header_option = prefixed_option(
        env_prefix,
        "--max-header-bytes",
        default=DEFAULT_HEADER_BYTES,
        type=click.IntRange(1),
        help="Bytes of a request's line and headers; more gets 431 and the connection is closed.",
    )
    timeout_option = prefixed_option(
        env_prefix,
        "--read-timeout-s",
        default=DEFAULT_READ_TIMEOUT_S,
        type=click.FloatRange(0, min_open=True),
        help="Seconds for a request's headers and body to arrive; later gets 408 and the connection is closed.",
    )
    idle_option = prefixed_option(
        env_prefix,
        "--max-idle-connections",
        default=None,
        type=click.IntRange(1),
        help="Connections idle or still sending a request; past it the longest-waiting is closed "
        "[default: the proxy half the open-file limit, at most 1000; the mock raises the limit, keeps a reserve].",
    )

    def decorate(command: F) -> F:
        return header_option(timeout_option(idle_option(command)))

    return decorate
