"""The load run's options, written once: one table feeds every place that names them.

- ``canvas-ai-harness load`` builds its click options from it (``cli/options.py``), and ``check``
  and ``contract`` take the options they share with it (``--target``, ``--seed``...) from it too;
- ``LoadOptions`` (``run.py``) takes its defaults from it, and ``locust_arguments`` turns a run's
  values into the locust command line;
- the locustfile registers its own options from it (``add_arguments`` on locust's
  ``init_command_line_parser``), and the runtime reads their defaults here.

Plain data and small helpers: no locust, no click (both the CLI process and the locust processes
import it). ``where`` says how locust gets an option: ``PARSER`` the locustfile's own option
(``dest`` ``harness_<name>``), ``LOCUST`` locust's own option of the same name, ``None`` the
CLI keeps it. ``cli`` says whether ``canvas-ai-harness load`` offers it; options it does not
offer (the shapes' and behaviour's finer knobs) reach locust through ``extra_locust_args``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness.load.plans import SHAPES
from canvas_ai_harness.load.safety import MAX_RUN_TIME, MAX_USERS

__all__ = [
    "LOAD_OPTIONS",
    "LOCUST",
    "OPTIONS",
    "PARSER",
    "LoadOption",
    "add_arguments",
    "locust_arguments",
    "parsed_option",
]

PARSER: Final = "parser"
LOCUST: Final = "locust"
_SAME: Final = object()


@dataclass(frozen=True, slots=True)
class LoadOption:
    """One option: its flag, kind, default, help and environment variable, and where it applies.

    ``kind`` is one of ``int``, ``float``, ``text``, ``choice``, ``duration`` (the CLI takes
    ``90s``/``5m``, locust seconds), ``target`` (a target file, read later), ``file`` (must exist),
    ``dir`` and ``latency`` (``MEAN[:JITTER]`` ms).
    """

    name: str
    flag: str
    kind: str
    default: Any
    help: str
    env: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    multiple: bool = False
    cli: bool = True
    where: str | None = PARSER
    web_ui: bool = True  # PARSER options only: shown in locust's web UI
    locust_default: Any = _SAME  # PARSER options whose locustfile default differs (see the table)
    omit: Any = None  # a value not passed to locust (None never is)
    old_flag: str | None = None  # an earlier spelling the locustfile still accepts
    old_env: str | None = None  # an earlier environment variable the locustfile still reads

    @property
    def dest(self) -> str:
        return f"harness_{self.name}"

    @property
    def parser_default(self) -> Any:
        return self.default if self.locust_default is _SAME else self.locust_default


def _load(name: str, flag: str, kind: str, default: Any, help: str, **more: Any) -> LoadOption:
    env = "CANVAS_AI_LOAD_" + flag.removeprefix("--").replace("-", "_").upper()
    return LoadOption(name, flag, kind, default, help, more.pop("env", env), **more)


# Options shared by several commands keep their one variable (CANVAS_AI_TARGET, CANVAS_AI_SEED);
# the load run's own are CANVAS_AI_LOAD_<FLAG>.
LOAD_OPTIONS: Final[tuple[LoadOption, ...]] = (
    _load(
        "target", "--target", "target", None,
        "Target file (TOML) naming the Canvas and its tokens; without one, the embedded mock Canvas.",
        env="CANVAS_AI_TARGET", web_ui=False, old_env="CANVAS_AI_LOAD_TARGET",
    ),
    _load("users", "--users", "int", 20, "Simulated users at the peak of the shape.", low=1, where=LOCUST),
    _load(
        "spawn_rate", "--spawn-rate", "float", 5.0, "Users started per second while the shape ramps up.",
        low=0.01, where=LOCUST,
    ),
    _load(
        "run_time", "--run-time", "duration", 60.0,
        "How long the load lasts, e.g. 90s, 5m, 1h30m (plain locust: --shape-run-time in seconds).", where=None,
    ),
    _load("shape", "--shape", "choice", "steady", "How the number of users changes over the run.", choices=SHAPES),
    _load(
        "students", "--students", "file", None,
        "CSV of student identities: a token or user_id column, and optionally role (student or teacher).",
        web_ui=False,
    ),
    _load(
        "thresholds", "--thresholds", "file", None,
        "Thresholds file (TOML) the run must meet; without one, no error and no contract violation.", web_ui=False,
    ),
    _load(
        "processes", "--processes", "int", 0, "Worker processes on this machine (0: one process does it all).",
        low=0, where=LOCUST, omit=0,
    ),
    # The CLI always writes reports; plain locust only when asked.
    _load(
        "report_dir", "--report-dir", "dir", Path("load-report"),
        "Directory for load-report.html, summary.json, timeline.csv and timeline.png.",
        web_ui=False, locust_default=None,
    ),
    _load(
        "allow_hosts", "--allow-host", "text", (),
        "A host other than 127.0.0.1/localhost this run may load (repeat for several).", multiple=True, web_ui=False,
    ),
    _load("max_users", "--max-users", "int", MAX_USERS, "Cap on --users, a guard against a typo.", low=1, web_ui=False),
    _load(
        "max_run_time", "--max-run-time", "duration", MAX_RUN_TIME, "Cap on --run-time, a guard against a typo.",
        web_ui=False,
    ),
    # CLI: None is one teacher when the target has a teacher token and there are 2+ users; the
    # locustfile, which knows neither when it parses, runs one.
    _load(
        "teachers", "--teachers", "int", None,
        "Teacher users reviewing the run's conversations (default: 1 when the target has a teacher token).",
        low=0, locust_default=1,
    ),
    _load(
        "think_scale", "--think-scale", "float", 1.0,
        "Multiplies every think time and pause (1: as a real student; 0: none at all).", low=0,
    ),
    _load(
        "request_timeout", "--request-timeout", "duration", 60.0,
        "A request unanswered this long is a timeout (fails the run).", low=0.1,
    ),
    _load(
        "connections", "--connections", "choice", "shared",
        "How simulated users reach the target: shared, the users of a process share kept-alive connections"
        " (one per request in flight, so tens of thousands of students fit one process); per-user, each user"
        " keeps its own connection as a browser would (one open file per user: mind ulimit -n).",
        choices=("shared", "per-user"),
    ),
    _load(
        "contract_sample", "--contract-sample", "float", 0.05,
        "Share of responses checked against the contract (1: every one).", low=0, high=1,
    ),
    _load(
        "mock_latency", "--mock-llm-latency-ms", "latency", "1000:250",
        "The embedded mock's AI time per reply, MEAN[:JITTER] milliseconds.",
        env="CANVAS_AI_LOAD_MOCK_LATENCY", where=None,
    ),
    _load(
        "seed", "--seed", "int", None, "Seed for the users' behaviour, so that a run can be repeated.",
        env="CANVAS_AI_SEED", web_ui=False, old_flag="--harness-seed", old_env="CANVAS_AI_LOAD_SEED",
    ),
    # The locustfile's own finer knobs; the CLI offers them too and passes them on.
    _load(
        "shape_run_time", "--shape-run-time", "float", None,
        "The shape's length in seconds (the CLI sets it from --run-time).", cli=False, web_ui=False,
    ),
    _load("ramp_steps", "--ramp-steps", "int", 5, "Shape ramp: climbs to --users in this many equal steps.", low=1),
    _load(
        "spike_base", "--spike-base", "float", 0.2,
        "Shape spike: the share of --users held before and after the spike.", low=0, high=1,
    ),
    _load(
        "spike_at", "--spike-at", "float", 0.4, "Shape spike: when the spike starts, as a share of the run.",
        low=0, high=1,
    ),
    _load(
        "spike_duration", "--spike-duration", "float", None,
        "Shape spike: how many seconds every user is on (default: a fifth of the run).", low=0,
    ),
    _load(
        "soak_ramp", "--soak-ramp", "float", None,
        "Shape soak: seconds to ramp up to --users (default: a tenth of the run).", low=0,
    ),
    _load(
        "turns_mean", "--turns-mean", "float", 4.0, "Mean number of messages a student sends per conversation.",
        low=1,
    ),
    _load(
        "leave_rate", "--leave-rate", "float", 0.15,
        "Share of conversations a student leaves open instead of ending them.", low=0, high=1,
    ),
    _load(
        "restart_rate", "--restart-rate", "float", 0.1,
        "Share of chat openings that start a new conversation although one is active.", low=0, high=1,
    ),
    _load(
        "preview_rate", "--preview-rate", "float", 0.25,
        "Share of a teacher's actions spent on its own preview conversation.", low=0, high=1,
    ),
    _load(
        "cleanup_timeout", "--cleanup-timeout", "float", 60.0,
        "Seconds clean-up may take to end the run's conversations once the users stopped.", low=0, web_ui=False,
    ),
    _load(
        "progress_every", "--progress-every", "float", 10.0,
        "Seconds between progress lines when the output is not a terminal (0: none).", low=0, web_ui=False,
    ),
)  # fmt: skip

OPTIONS: Final[Mapping[str, LoadOption]] = {option.name: option for option in LOAD_OPTIONS}

_PARSER_TYPES: Final = {"int": int, "float": float, "duration": float}


def add_arguments(parser: Any, **_kwargs: Any) -> None:
    """Register the locustfile's options on locust's parser (``events.init_command_line_parser``)."""
    for option in LOAD_OPTIONS:
        if option.where != PARSER:
            continue
        flags = [option.flag] + ([option.old_flag] if option.old_flag else [])
        default = option.parser_default
        if option.old_env and os.environ.get(option.old_env):
            default = os.environ[option.old_env]  # a string: argparse converts it with ``type``
        kwargs: dict[str, Any] = {"dest": option.dest, "help": option.help, "env_var": option.env}
        if option.multiple:
            kwargs.update(action="append", default=list(default or ()))
        else:
            kwargs["default"] = default
            if option.kind in _PARSER_TYPES:
                kwargs["type"] = _PARSER_TYPES[option.kind]
            if option.choices:
                kwargs["choices"] = option.choices
        # Straight on the parser: only its own add_argument knows include_in_web_ui (a group's does not).
        parser.add_argument(*flags, include_in_web_ui=option.web_ui, **kwargs)


def locust_arguments(values: Mapping[str, Any]) -> list[str]:
    """The locust command line for ``values`` (option name -> value), in the table's order."""
    args: list[str] = []
    for option in LOAD_OPTIONS:
        value = values.get(option.name)
        if option.where is None or value is None or (option.omit is not None and value == option.omit):
            continue
        for item in value if option.multiple else [value]:
            args += [option.flag, f"{item:g}" if isinstance(item, float) else str(item)]
    return args


def parsed_option(environment: Any, name: str) -> Any:
    """The locustfile option ``name`` as locust parsed it for ``environment``, or its default here."""
    option = OPTIONS[name]
    parsed = environment.parsed_options
    return getattr(parsed, option.dest, option.parser_default) if parsed else option.parser_default
