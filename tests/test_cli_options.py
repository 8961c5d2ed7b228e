"""The commands' options: one environment-variable convention, and a shared option is the same everywhere."""

from __future__ import annotations

from collections import defaultdict

import click
import pytest

from canvas_ai_harness.cli import cli, main

# A value that belongs to one command is CANVAS_AI_<COMMAND>_<FLAG>; one that means the same to
# every command is CANVAS_AI_<FLAG>. check's load run reads the load command's variables.
_PREFIXES = {
    "mock": ["MOCK"],
    "proxy": ["PROXY"],
    "load": ["LOAD"],
    "contract": [],
    "check": ["CHECK", "LOAD"],
    "snapshot": ["SNAPSHOT"],
    "diff": ["DIFF"],
}
_NAMED_OTHERWISE = {("load", "--mock-llm-latency-ms"): "CANVAS_AI_LOAD_MOCK_LATENCY"}


def _options(command: str) -> list[click.Option]:
    return [p for p in cli.commands[command].params if isinstance(p, click.Option) and not p.hidden]


def _expected_variables(command: str, flag: str) -> set[str]:
    if (command, flag) in _NAMED_OTHERWISE:
        return {_NAMED_OTHERWISE[command, flag]}
    name = flag.removeprefix("--").replace("-", "_").upper()
    return {f"CANVAS_AI_{name}"} | {f"CANVAS_AI_{prefix}_{name}" for prefix in _PREFIXES[command]}


@pytest.mark.parametrize("command", sorted(_PREFIXES))
def test_every_option_has_a_shown_variable_named_by_the_convention(command: str) -> None:
    assert set(cli.commands) == set(_PREFIXES)
    for param in _options(command):
        flag = param.opts[0]
        assert param.show_envvar, (command, flag)
        assert isinstance(param.envvar, str) and param.envvar in _expected_variables(command, flag), (
            command,
            flag,
            param.envvar,
        )


def _type_signature(param: click.Option) -> tuple[object, ...]:
    kind = param.type
    if isinstance(kind, click.Path):
        return ("path", kind.exists, kind.file_okay, kind.dir_okay, kind.type)
    return (type(kind).__name__, param.multiple)


def test_an_option_several_commands_share_has_one_type_and_one_shared_variable() -> None:
    by_flag: dict[str, list[tuple[str, click.Option]]] = defaultdict(list)
    for command in cli.commands:
        for param in _options(command):
            by_flag[param.opts[0]].append((command, param))
    shared = {flag: uses for flag, uses in by_flag.items() if len(uses) > 1}
    assert {"--target", "--seed", "--report-dir", "--allow-host", "--thresholds", "--profile"} <= set(shared)
    for flag, uses in shared.items():
        assert len({_type_signature(param) for _, param in uses}) == 1, flag
    for flag in ("--target", "--seed", "--profile", "--max-llm-calls"):
        variable = "CANVAS_AI_" + flag.removeprefix("--").replace("-", "_").upper()
        assert {param.envvar for _, param in shared[flag]} == {variable}, flag


@pytest.mark.parametrize("command", ["contract", "check", "load", "snapshot"])
def test_a_missing_target_file_is_one_line_and_exit_2(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--target", "/nonexistent/target.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("canvas-ai-harness: error: target file /nonexistent/target.toml does not exist")
    assert len(err.strip().splitlines()) == 1
