"""One table of load options: ``canvas-ai-harness load``, the locustfile's parser and ``LoadOptions`` agree with it.

The locustfile's parser is built in a subprocess (locust must not be imported into pytest).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import click.testing
import pytest

from canvas_ai_harness.cli import cli
from canvas_ai_harness.load import LoadOptions
from canvas_ai_harness.load.options import LOAD_OPTIONS, LOCUST, OPTIONS, PARSER, locust_arguments
from canvas_ai_harness.load.run import _locust_command
from canvas_ai_harness.load.safety import format_duration

_PARSER_DUMP = """
import json, sys
import canvas_ai_harness.load.runtime  # registers the options on locust's parser
from locust.argument_parser import get_parser

parser = get_parser()
actions = {
    a.dest: {"flags": a.option_strings, "default": a.default, "env": a.env_var, "web_ui": a.include_in_web_ui}
    for a in parser._actions if a.dest.startswith("harness_")
}
locust_flags = sorted(f for a in parser._actions for f in a.option_strings)
parsed = vars(parser.parse_args(json.loads(sys.argv[1])))
print(json.dumps({"actions": actions, "locust_flags": locust_flags,
                  "parsed": {k: v for k, v in parsed.items() if k.startswith("harness_")}}, default=str))
"""


def _locustfile_parser(argv: list[str]) -> dict[str, Any]:
    """The locustfile's options as locust's parser holds them, and ``argv`` parsed with it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVAS_AI_")}
    done = subprocess.run(
        [sys.executable, "-c", _PARSER_DUMP, json.dumps(argv)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def sample_values() -> dict[str, Any]:
    """A value for each option the CLI passes to locust, none of them the default."""
    return {
        "target": Path("t.toml"),
        "users": 7,
        "spawn_rate": 2.5,
        "shape": "spike",
        "students": Path("s.csv"),
        "thresholds": Path("th.toml"),
        "processes": 2,
        "report_dir": Path("r"),
        "allow_hosts": ("a.example.edu", "b.example.edu"),
        "max_users": 50,
        "max_run_time": 600.0,
        "teachers": 3,
        "think_scale": 0.5,
        "contract_sample": 0.25,
        "seed": 11,
        "shape_run_time": 30.0,
    }


def test_the_load_command_offers_exactly_the_tables_cli_options() -> None:
    params = {p.name: p for p in cli.commands["load"].params if isinstance(p, click.Option)}
    assert set(params) == {o.name for o in LOAD_OPTIONS if o.cli}
    for spec in (o for o in LOAD_OPTIONS if o.cli):
        param = params[spec.name]
        default = format_duration(spec.default) if spec.kind == "duration" else spec.default
        assert (param.opts[0], param.envvar, param.default, param.multiple, param.show_envvar) == (
            spec.flag,
            spec.env,
            default,
            spec.multiple,
            True,
        ), spec.name


def test_load_options_fields_and_defaults_are_the_tables() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(LoadOptions)}
    assert set(fields) - {"extra_locust_args"} == {o.name for o in LOAD_OPTIONS if o.cli}
    for name, default in fields.items():
        if name in OPTIONS:
            assert default == OPTIONS[name].default, name


@pytest.mark.slow
def test_the_locustfile_parser_registers_the_tables_options_and_reads_the_command_line_the_cli_writes(
    sample_values: dict[str, Any],
) -> None:
    argv = locust_arguments(sample_values)
    dump = _locustfile_parser(argv)
    actions = dump["actions"]
    assert set(actions) == {o.dest for o in LOAD_OPTIONS if o.where == PARSER}
    for spec in (o for o in LOAD_OPTIONS if o.where == PARSER):
        action = actions[spec.dest]
        assert action["flags"][0] == spec.flag and action["env"] == spec.env, spec.name
        assert action["web_ui"] == spec.web_ui, spec.name
        assert action["default"] == (list(spec.parser_default) if spec.multiple else spec.parser_default), spec.name
    # Every flag the CLI writes is the locustfile's own or locust's, and reads back as written.
    written = {flag for flag in argv if flag.startswith("--")}
    assert written <= set(dump["locust_flags"])
    assert {o.flag for o in LOAD_OPTIONS if o.where == LOCUST} <= set(dump["locust_flags"])
    for spec in (o for o in LOAD_OPTIONS if o.where == PARSER and o.name in sample_values):
        expected = sample_values[spec.name]
        expected = [str(v) for v in expected] if spec.multiple else expected
        got = dump["parsed"][spec.dest]
        assert got == expected or str(got) == str(expected), spec.name


def test_the_locust_command_passes_every_option_the_run_has(tmp_path: Path) -> None:
    options = LoadOptions(users=9, shape="ramp", allow_hosts=("x.example.edu",), seed=5, processes=0)
    command = _locust_command(options, tmp_path / "t.toml", "http://127.0.0.1:1", 1, tmp_path)
    pairs = dict(itertools.pairwise(command))
    assert pairs["--users"] == "9" and pairs["--shape"] == "ramp" and pairs["--seed"] == "5"
    assert pairs["--allow-host"] == "x.example.edu" and pairs["--teachers"] == "1"
    assert pairs["--shape-run-time"] == "60" and pairs["--report-dir"] == str(tmp_path)
    assert "--processes" not in command  # 0: one process, locust's own default
    assert "--mock-llm-latency-ms" not in command  # the CLI's own: it starts the mock


_WEB_UI_DUMP = """
import json
import canvas_ai_harness.load.runtime  # registers the options on locust's parser
from locust.argument_parser import ui_extra_args_dict

print(json.dumps({k: v["help_text"] for k, v in ui_extra_args_dict([]).items()}))
"""


def _is_a_sentence(text: str) -> bool:
    return len(text.split()) >= 5 and text[0].isupper() and text.rstrip(")").endswith(".")


def test_every_locustfile_knob_has_a_sentence_of_help_in_the_table() -> None:
    terse = [o.flag for o in LOAD_OPTIONS if not _is_a_sentence(o.help)]
    assert terse == []


def test_load_help_lists_every_knob_of_the_locustfile_with_its_help() -> None:
    result = click.testing.CliRunner().invoke(cli, ["load", "--help"], terminal_width=400)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    for spec in LOAD_OPTIONS:
        if spec.cli:
            assert spec.flag in flat and " ".join(spec.help.split()) in flat, spec.flag
        else:  # the shape's own length: the CLI's --run-time, which says so
            assert spec.flag in flat, spec.flag


def test_locusts_web_ui_shows_every_knob_with_the_tables_help() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVAS_AI_")}
    done = subprocess.run([sys.executable, "-c", _WEB_UI_DUMP], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    expected = {o.dest: o.help for o in LOAD_OPTIONS if o.where == PARSER and o.web_ui}
    assert {dest: shown.get(dest) for dest in expected} == expected
    assert {"harness_turns_mean", "harness_spike_duration", "harness_shape"} <= set(shown)


def test_the_reports_command_line_is_what_was_given_on_the_command_line_or_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from canvas_ai_harness.cli.suites import _command_line, load

    given = load.make_context("load", ["--users", "3", "--run-time", "2m", "--allow-host", "a.example.edu"])
    assert _command_line(given) == [
        "canvas-ai-harness", "load", "--users", "3", "--run-time", "2m", "--allow-host", "a.example.edu",
    ]  # fmt: skip
    monkeypatch.setenv("CANVAS_AI_LOAD_THINK_SCALE", "0.05")
    from_env = load.make_context("load", ["--turns-mean", "2"])
    assert _command_line(from_env) == ["canvas-ai-harness", "load", "--think-scale", "0.05", "--turns-mean", "2"]
