"""``run_load``: one load run, with locust in subprocesses of its own, and its verdict.

The calling process never imports locust (gevent's monkey-patching must not reach the CLI or
pytest). ``run_load`` checks everything first: the caps, the thresholds file, the identities,
and that the target host may be loaded (before anything is sent). Without a target it starts
the embedded mock (``canvas-ai-harness mock``, realistic AI latency) in a subprocess. It then
runs ``locust -f canvas_ai_harness/load/locustfile.py`` headless (``--processes N``: a master and
N workers), echoes its progress lines, and reads the ``summary.json`` the master writes.

Tokens never appear on a command line: the target handed to locust holds ``${ENV}``
placeholders, and the tokens travel in the child's environment.

On Ctrl-C the locust master gets one SIGINT: it stops its users, ends every conversation the
run opened, writes its reports, and only then exits; a second Ctrl-C cuts that short but keeps
the reports (``supervise.py``). ``run_load`` then raises ``KeyboardInterrupt`` (the CLI's exit
code 130).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from canvas_ai_harness.budgets import default_idle_connections
from canvas_ai_harness.config import Target, load_target, write_target
from canvas_ai_harness.errors import ConfigError, HarnessError, TargetUnreachable
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_OK
from canvas_ai_harness.htmlreport import command_line
from canvas_ai_harness.interrupts import sigterm_as_interrupt
from canvas_ai_harness.load.identities import check_distinct, read_identity_csv, target_identities
from canvas_ai_harness.load.options import OPTIONS, locust_arguments
from canvas_ai_harness.load.pace import short_run_warning
from canvas_ai_harness.load.plans import ShapePlan
from canvas_ai_harness.load.progress import PROGRESS_LINE, ProgressEcho
from canvas_ai_harness.load.report import COMMAND_ENV, HTML_FILE, INTERRUPTED_ENV, PROGRESS_PREFIX, SUMMARY_FILE
from canvas_ai_harness.load.safety import check_caps, check_host, format_duration
from canvas_ai_harness.load.supervise import stop, wait_for_locust
from canvas_ai_harness.load.thresholds import load_thresholds
from canvas_ai_harness.preflight import preflight
from canvas_ai_harness.redact import Redactor

__all__ = ["LoadOptions", "LoadResult", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_TOKEN_ENV = "CANVAS_AI_LOAD_TOKEN_"


def _default(name: str) -> Any:
    return OPTIONS[name].default


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """One load run; each field is an option of ``options.LOAD_OPTIONS``, with its default.

    ``target`` ``None``: start the embedded mock with ``mock_latency``. ``extra_locust_args``:
    further locust arguments, passed as they are.
    """

    target: Target | None = None
    users: int = _default("users")
    spawn_rate: float = _default("spawn_rate")
    run_time: float = _default("run_time")
    shape: str = _default("shape")
    students: Path | None = None
    thresholds: Path | None = None
    processes: int = _default("processes")
    report_dir: Path = _default("report_dir")  # noqa: RUF009 - a Path is immutable
    allow_hosts: tuple[str, ...] = ()
    max_users: int = _default("max_users")
    max_run_time: float = _default("max_run_time")
    teachers: int | None = None  # None: one when the target has a teacher and there are 2+ users
    think_scale: float = _default("think_scale")
    request_timeout: float = _default("request_timeout")
    contract_sample: float = _default("contract_sample")
    connections: str = _default("connections")
    mock_latency: str = _default("mock_latency")
    seed: int | None = None
    ramp_steps: int = _default("ramp_steps")
    spike_base: float = _default("spike_base")
    spike_at: float = _default("spike_at")
    spike_duration: float | None = None
    soak_ramp: float | None = None
    turns_mean: float = _default("turns_mean")
    leave_rate: float = _default("leave_rate")
    restart_rate: float = _default("restart_rate")
    preview_rate: float = _default("preview_rate")
    cleanup_timeout: float = _default("cleanup_timeout")
    progress_every: float = _default("progress_every")
    extra_locust_args: tuple[str, ...] = ()

    def plan(self) -> ShapePlan:
        """The shape this run follows (raises ``ValueError`` for a bad shape option)."""
        return ShapePlan(
            self.shape, self.users, self.spawn_rate, self.run_time, self.ramp_steps, self.spike_base,
            self.spike_at, self.spike_duration, self.soak_ramp,
        )  # fmt: skip


@dataclass(slots=True)
class LoadResult:
    """What a run measured and its verdict; ``exit_code`` is ``EXIT_OK`` or ``EXIT_FAILED`` (a threshold missed)."""

    summary: dict[str, Any]
    report_dir: Path
    missed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.summary.get("verdict", {}).get("passed"))

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_FAILED

    def render(self) -> str:
        """A short human summary: totals, per-route figures, conversations, verdict."""
        s = self.summary
        totals, conv = s.get("totals", {}), s.get("conversations", {})
        lines = [
            f"requests {totals.get('requests', 0)} ({totals.get('rps', 0)}/s): ok {totals.get('ok', 0)}, "
            f"throttled {totals.get('throttled', 0)}, AI 503 {totals.get('ai_unavailable', 0)}, "
            f"contract {totals.get('contract', 0)}, timeouts {totals.get('timeout', 0)}, "
            f"redirects {totals.get('redirect', 0)}, errors {totals.get('error', 0)}",
            f"{'route':<24}{'requests':>9}{'rps':>9}{'fail %':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}",
        ]
        for route, r in s.get("routes", {}).items():
            lines.append(
                f"{route:<24}{r['requests']:>9}{r['rps']:>9.2f}{100 * r['failure_rate']:>8.2f}"
                f"{_ms(r.get('p50_ms')):>10}{_ms(r.get('p95_ms')):>10}{_ms(r.get('p99_ms')):>10}"
            )
        first = conv.get("time_to_first_reply", {})
        lines.append(
            f"conversations: {conv.get('started', 0)} started, {conv.get('completed', 0)} completed "
            f"({conv.get('completed_per_minute', 0)}/min), {conv.get('left_open', 0)} left open; "
            f"first reply p95 {_ms(first.get('p95_ms'))} ms"
        )
        cleanup = s.get("cleanup", {})
        cut = " (cut short by a second Ctrl-C)" if cleanup.get("cut_short") else ""
        lines.append(
            f"clean-up: {cleanup.get('closed', 0)} conversations ended, {cleanup.get('failed', 0)} could not be{cut}"
        )
        verdict = s.get("verdict", {})
        lines += [f"  {line}" for line in verdict.get("missed", [])]
        lines.append(f"verdict: {'PASS' if self.passed else 'FAIL'} (report: {self.report_dir / HTML_FILE})")
        return "\n".join(lines)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _teachers(options: LoadOptions, target: Target) -> int:
    if options.teachers is not None:
        return options.teachers
    return 1 if target.tokens.teacher and options.users >= 2 else 0


def _check_identities(options: LoadOptions, target: Target, embedded: bool, teachers: int) -> None:
    """Refuse a run with fewer identities than users (before starting anything), whatever the target.

    Only the mock's own world, without ``--students``, makes as many students as asked.
    """
    if options.students is not None:
        identities = read_identity_csv(options.students, target.tokens.admin, target.tokens.teacher)
        where = f"--students {options.students}"
        if not any(i.role == "teacher" for i in identities):
            identities += [i for i in target_identities(target) if i.role == "teacher"]
    elif embedded or _serves_mock(target):
        return
    else:
        identities = target_identities(target)
        where = f"the target file {target.source}"
    check_distinct(identities, where)
    students = sum(1 for i in identities if i.role == "student")
    needed = options.users - teachers
    if needed > students:
        raise ConfigError(
            f"{options.users} users need {needed} student identities but {where} has {students}; "
            "give a CSV of student tokens (or user ids with an admin token) with --students, or lower --users"
        )
    have = sum(1 for i in identities if i.role == "teacher")
    if teachers > have:
        raise ConfigError(
            f"--teachers {teachers} needs {teachers} teacher identities but {where} has {have}; "
            "add teacher rows (role=teacher) to --students, or lower --teachers"
        )


def _serves_mock(target: Target) -> bool:
    if not target.is_local():
        return False
    import httpx

    try:
        response = httpx.get(f"{target.base_url}/__harness__/health", timeout=3)
        return response.status_code == 200 and bool(response.json().get("ok"))
    except (httpx.HTTPError, ValueError):
        return False


def _placeholder_target(target: Target, directory: Path) -> tuple[Path, dict[str, str]]:
    """Write ``target`` with ``${ENV}`` placeholders for its tokens; return the file and the variables."""
    env: dict[str, str] = {}
    masked: dict[str, Any] = {}
    for item in dataclasses.fields(target.tokens):
        value = getattr(target.tokens, item.name)
        if isinstance(value, tuple):  # [tokens] students
            names = [f"{_TOKEN_ENV}{item.name.upper()}_{n}" for n in range(len(value))]
            env.update(zip(names, value, strict=True))
            masked[item.name] = tuple(f"${{{var}}}" for var in names)
        elif value is not None:
            var = f"{_TOKEN_ENV}{item.name.upper()}"
            env[var] = value
            masked[item.name] = f"${{{var}}}"
    path = directory / "target.toml"
    write_target(dataclasses.replace(target, tokens=dataclasses.replace(target.tokens, **masked)), path)
    return path, env


@contextlib.contextmanager
def _embedded_mock(latency: str, directory: Path, users: int) -> Iterator[Target]:
    """The mock Canvas in a subprocess of its own (never in this process), on a free loopback port.

    Every simulated user keeps a connection open while it thinks: the mock may hold all of them
    idle (its default cap, meant for a laptop facing strangers, would close them under a run).
    """
    target_file = directory / "mock-target.toml"
    log = (directory / "mock.log").open("w", encoding="utf-8")
    command = [
        sys.executable, "-m", "canvas_ai_harness", "mock", "--host", "127.0.0.1", "--port", "0",
        "--llm-latency-ms", latency, "--write-target", str(target_file),
        "--max-idle-connections", str(max(default_idle_connections(), 2 * users)),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60  # bounds a mock that never starts; a busy machine is slow to
        while not target_file.exists() or not _serves_mock(load_target(target_file)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise TargetUnreachable(f"the embedded mock did not start (see {directory / 'mock.log'})")
            time.sleep(0.1)
        yield load_target(target_file)
    finally:
        stop(process, signal.SIGTERM, 10)
        log.close()


def _locust_command(options: LoadOptions, target_file: Path, host: str, teachers: int, report: Path) -> list[str]:
    # --run-time is locust's own stop, a little after the shape's end, in case the shape never ends.
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", host, "--run-time", f"{math.ceil(options.run_time) + 10}s",
        "--loglevel", "INFO", "--exit-code-on-error", "0",
        "--csv", str(report / "locust"), "--html", str(report / "locust.html"),
    ]  # fmt: skip
    values = {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}
    values.update(target=target_file, teachers=teachers, report_dir=report, shape_run_time=options.run_time)
    # A line a second: ProgressEcho shows each live on a terminal, and one in --progress-every elsewhere.
    values["progress_every"] = 1.0 if options.progress_every > 0 else 0.0
    if options.processes:
        # locust's master binds 5557 by default: a second run on the machine would fail to start.
        port = str(_free_port())
        command += ["--master-bind-port", port, "--master-port", port]
    return command + locust_arguments(values) + list(options.extra_locust_args)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pump(stream: TextIO, log: TextIO, shown: ProgressEcho, redact: Redactor) -> None:
    try:
        for line in stream:
            if not line.startswith(PROGRESS_PREFIX):
                log.write(line)
                continue
            text = redact(line[len(PROGRESS_PREFIX) :].strip())
            if text.startswith(PROGRESS_LINE):
                shown.progress(text[len(PROGRESS_LINE) :])
            else:
                log.write(line)
                shown.message(text)
    except (ValueError, OSError):
        pass  # the stream was closed under us: locust's workers outlived their master
    log.flush()


def run_load(
    options: LoadOptions,
    echo: Callable[[str], None] | None = None,
    progress: ProgressEcho | None = None,
    command: Sequence[str] | None = None,
) -> LoadResult:
    """Run one load test and return its result; raise ``HarnessError`` when it could not run.

    ``echo`` gets the run's messages and, one every ``--progress-every`` s, its progress lines;
    ``progress`` (the CLI's, live on a terminal) replaces that when given. ``command`` is the
    command line ``load-report.html`` shows (redacted there); without it, locust's.
    """
    shown = progress or ProgressEcho(echo or (lambda line: None), every=options.progress_every)
    say = shown.message
    check_caps(options.users, options.run_time, options.max_users, options.max_run_time)
    try:
        options.plan()  # validates the shape and its knobs
    except ValueError as exc:
        raise ConfigError(f"{exc}; see canvas-ai-harness load --help") from None
    if options.thresholds is not None:
        load_thresholds(options.thresholds)
    if options.target is not None:
        check_host(options.target.base_url, options.allow_hosts)  # before anything is sent
    report = options.report_dir
    try:
        report.mkdir(parents=True, exist_ok=True)
        (report / SUMMARY_FILE).unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to --report-dir {report}: {exc.strerror}") from exc
    with (
        tempfile.TemporaryDirectory(prefix="canvas-ai-load-") as scratch,
        contextlib.ExitStack() as stack,
        sigterm_as_interrupt(),
    ):
        target = options.target
        if target is None:
            say(f"starting the embedded mock Canvas (AI latency {options.mock_latency} ms)")
            target = stack.enter_context(_embedded_mock(options.mock_latency, Path(scratch), options.users))
        teachers = _teachers(options, target)
        _check_identities(options, target, options.target is None, teachers)
        if options.target is not None:
            preflight(options.target)  # a broken setup or nothing listening: exit 2 in seconds, not a run
        warning = short_run_warning(options.run_time, options.think_scale, options.turns_mean, _reply_ms(options))
        if warning:
            say(warning)
        try:
            return _run_locust(options, target, teachers, Path(scratch), shown, command)
        finally:
            shown.close()


def _reply_ms(options: LoadOptions) -> float:
    """The AI's time per reply: the embedded mock's mean, or a second for a real Canvas."""
    if options.target is None:
        with contextlib.suppress(ValueError):
            return float(str(options.mock_latency).split(":")[0])
    return 1000.0


def _run_locust(
    options: LoadOptions,
    target: Target,
    teachers: int,
    scratch: Path,
    shown: ProgressEcho,
    given: Sequence[str] | None,
) -> LoadResult:
    say = shown.message
    report = options.report_dir
    target_file, token_env = _placeholder_target(target, scratch)
    command = _locust_command(options, target_file, target.base_url, teachers, report)
    redact = Redactor(target.secrets())
    processes = f", {options.processes} worker processes" if options.processes else ""
    say(
        f"{options.shape}: {options.users} users ({teachers} teachers), spawn {options.spawn_rate:g}/s, "
        f"{format_duration(options.run_time)} against {target.base_url}{processes}"
    )
    env = {**os.environ, **token_env, "PYTHONUNBUFFERED": "1"}
    if given:
        env[COMMAND_ENV] = command_line(given, redact)  # redacted before it leaves this process
    marker = scratch / "interrupted"  # touched at the first Ctrl-C, before locust hears of it
    env[INTERRUPTED_ENV] = str(marker)
    log_path = report / "locust.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            errors="replace", env=env, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        pump = threading.Thread(target=_pump, args=(process.stdout, log, shown, redact), daemon=True)
        pump.start()
        # Spawning, settling, clean-up (its own timeout) and the reports all fit in this margin.
        limit = options.run_time + options.users / max(options.spawn_rate, 0.1) + options.request_timeout + 180
        try:
            interrupted = wait_for_locust(process, limit, say, marker.touch)
        finally:
            pump.join(timeout=10)
            process.stdout.close()
    summary_path = report / SUMMARY_FILE
    if not summary_path.exists():
        tail = redact("".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:]))
        if interrupted:
            raise KeyboardInterrupt
        raise HarnessError(f"locust ended (exit {process.returncode}) without a summary; see {log_path}:\n{tail}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    result = LoadResult(summary, report, list(summary.get("verdict", {}).get("missed", [])))
    if interrupted:
        say(result.render())
        raise KeyboardInterrupt
    return result
