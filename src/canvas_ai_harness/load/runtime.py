"""The load suite inside locust: options, identities across processes, measures, clean-up, reports.

Imported only by locust processes (it imports locust, which monkey-patches with gevent). One
``Runtime`` per locust process, reached from users with ``runtime(environment)``. Its role
follows locust's runner:

- ``local`` (one process) and ``master`` hold the ``IdentityPool`` and the target, merge the
  measures, write the reports and set the exit code from the verdict;
- ``worker`` asks the master for identities (a custom message; the answer carries the
  conversation path too, so a worker on another machine needs nothing but the locustfile), and
  sends its measures with locust's periodic worker report.

When a run stops (its end, Ctrl-C, SIGTERM, the web UI's stop button) the master first asks
every worker to stop its users, end the conversations it opened and send its last measures
(``canvas_ai_drain`` -> ``canvas_ai_final``); only then does it write the summary. A process
ends its own conversations because only it knows them: identities never move between
processes.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
import gevent.event
import gevent.lock
import gevent.pool
from geventhttpclient import HTTPClient
from locust import events
from locust.env import Environment
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner

from canvas_ai_harness.canvas.lifecycle import says_closed
from canvas_ai_harness.config import Target, load_target
from canvas_ai_harness.errors import HarnessError
from canvas_ai_harness.load.behaviour import Behaviour
from canvas_ai_harness.load.checks import ResponseChecker
from canvas_ai_harness.load.identities import Identity, IdentityPool, Seats, read_identity_csv, target_identities
from canvas_ai_harness.load.ledger import Ledger, OpenConversation
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.outcomes import is_throttled
from canvas_ai_harness.load.plans import SHAPES, ShapePlan
from canvas_ai_harness.load.report import PROGRESS_PREFIX, summarise, write_reports
from canvas_ai_harness.load.safety import MAX_RUN_TIME, MAX_USERS, host_allowed
from canvas_ai_harness.load.thresholds import DEFAULTS, Thresholds, load_thresholds
from canvas_ai_harness.redact import Redactor

__all__ = ["Runtime", "World", "runtime"]

log = logging.getLogger("canvas_ai_harness.load")
_IDENTITIES_ASK, _IDENTITIES_GIVE = "canvas_ai_identities?", "canvas_ai_identities"
_DRAIN, _FINAL = "canvas_ai_drain", "canvas_ai_final"
_RECENT = 1000  # conversation ids kept for teachers to review
_RUNTIMES: dict[int, Runtime] = {}


def runtime(environment: Environment) -> Runtime:
    """This process's runtime (created by the ``init`` event)."""
    return _RUNTIMES[id(environment)]


# -- options ------------------------------------------------------------------------------------
def _add_options(parser: Any, **_kwargs: Any) -> None:
    # Straight on the parser: only its own add_argument knows include_in_web_ui (a group's does not).
    def add(flag: str, env: str, ui: bool = True, **kwargs: Any) -> None:
        parser.add_argument(flag, env_var=f"CANVAS_AI_LOAD_{env}", include_in_web_ui=ui, **kwargs)

    add("--target", "TARGET", False, dest="harness_target", help="Target file (TOML); tokens via ${ENV} placeholders.")
    add("--students", "STUDENTS", False, dest="harness_students", help="CSV of identities: token or user_id [,role].")
    add("--shape", "SHAPE", dest="harness_shape", choices=SHAPES, default="steady", help="Load shape.")
    add("--ramp-steps", "RAMP_STEPS", dest="harness_ramp_steps", type=int, default=5, help="ramp: steps.")
    add("--spike-base", "SPIKE_BASE", dest="harness_spike_base", type=float, default=0.2, help="spike: base share.")
    add("--spike-at", "SPIKE_AT", dest="harness_spike_at", type=float, default=0.4, help="spike: start (share of run).")
    add("--spike-duration", "SPIKE_DURATION", dest="harness_spike_duration", type=float, default=None, help="spike: s.")
    add("--soak-ramp", "SOAK_RAMP", dest="harness_soak_ramp", type=float, default=None, help="soak: ramp-up seconds.")
    add("--shape-run-time", "SHAPE_RUN_TIME", False, dest="harness_run_time", type=float, default=None)
    add("--thresholds", "THRESHOLDS", False, dest="harness_thresholds", help="Thresholds file (TOML).")
    add("--report-dir", "REPORT_DIR", False, dest="harness_report_dir", help="Write summary.json and the plot here.")
    add(
        "--allow-host",
        "ALLOW_HOST",
        False,
        dest="harness_allow_host",
        action="append",
        default=[],
        help="Non-loopback host.",
    )
    add("--max-users", "MAX_USERS", False, dest="harness_max_users", type=int, default=MAX_USERS, help="Users cap.")
    add("--max-run-time", "MAX_RUN_TIME", False, dest="harness_max_run_time", type=float, default=MAX_RUN_TIME)
    add("--teachers", "TEACHERS", dest="harness_teachers", type=int, default=1, help="Teacher users (fixed count).")
    add("--think-scale", "THINK_SCALE", dest="harness_think_scale", type=float, default=1.0, help="0: no think time.")
    add("--turns-mean", "TURNS_MEAN", dest="harness_turns_mean", type=float, default=4.0, help="Mean turns.")
    add("--leave-rate", "LEAVE_RATE", dest="harness_leave_rate", type=float, default=0.15, help="Leave without ending.")
    add("--restart-rate", "RESTART_RATE", dest="harness_restart_rate", type=float, default=0.1, help="Restart share.")
    add(
        "--preview-rate", "PREVIEW_RATE", dest="harness_preview_rate", type=float, default=0.25, help="Teacher preview."
    )
    add("--contract-sample", "CONTRACT_SAMPLE", dest="harness_contract_sample", type=float, default=0.05)
    add("--cleanup-timeout", "CLEANUP_TIMEOUT", False, dest="harness_cleanup_timeout", type=float, default=60.0)
    add("--progress-every", "PROGRESS_EVERY", False, dest="harness_progress_every", type=float, default=10.0)
    add("--harness-seed", "SEED", False, dest="harness_seed", type=int, default=None, help="Seed for behaviour.")


def _opt(environment: Environment, name: str, default: Any = None) -> Any:
    return getattr(environment.parsed_options, f"harness_{name}", default) if environment.parsed_options else default


# -- the conversation path and the per-process registry -----------------------------------------
@dataclass(frozen=True, slots=True)
class World:
    """Where the conversations are: what every user needs besides its identity."""

    base_path: str  # /api/v1/courses/<course>/ai_experiences/<experience>/conversations
    profile: str = "completed"

    @classmethod
    def of(cls, target: Target) -> World:
        prefix = urlsplit(target.base_url).path.rstrip("/")
        return cls(prefix + target.path(), target.profile)


# -- the runtime --------------------------------------------------------------------------------
class Runtime:
    """Everything the load suite keeps in one locust process."""

    def __init__(self, environment: Environment) -> None:
        self.env = environment
        runner = environment.runner
        self.role = (
            "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) else "local"
        )
        self.metrics = Metrics(self.role)
        self.seats = Seats()
        self.ledger = Ledger()
        self.checker = ResponseChecker()
        self.redact = Redactor()
        self.world: World | None = None
        self.target: Target | None = None
        self.pool: IdentityPool | None = None
        self.refused: str | None = None
        self.started = 0.0
        self.stopped_at = 0.0
        self.thresholds: Thresholds = DEFAULTS
        self._mock: bool | None = None
        self.cleaned = False
        self.summary: dict[str, Any] | None = None
        self.recent: list[int] = []
        self._recent_at = 0
        self._locks = {role: gevent.lock.Semaphore() for role in ("student", "teacher")}
        self._waiting = {role: 0 for role in ("student", "teacher")}
        self._answers: dict[int, gevent.event.AsyncResult] = {}
        self._ids = itertools.count(1)
        self._pool_lock = gevent.lock.Semaphore()
        self._finals: set[str] = set()
        self._background: list[gevent.Greenlet] = []
        self._user_classes = list(environment.user_classes)
        self.rng = random.Random(_opt(environment, "seed"))
        self._read_behaviour()

    # -- options as objects -------------------------------------------------------------------
    def _read_behaviour(self) -> None:
        env = self.env
        self.behaviour = Behaviour(
            think_scale=max(0.0, float(_opt(env, "think_scale", 1.0))),
            turns_mean=float(_opt(env, "turns_mean", 4.0)),
            leave_rate=float(_opt(env, "leave_rate", 0.15)),
            restart_rate=float(_opt(env, "restart_rate", 0.1)),
            preview_rate=float(_opt(env, "preview_rate", 0.25)),
        )
        self.sample_rate = min(1.0, max(0.0, float(_opt(env, "contract_sample", 0.05))))

    def plan(self) -> ShapePlan:
        """The shape plan from the options (users, spawn rate and run time as locust parsed them)."""
        options = self.env.parsed_options
        max_users = _opt(self.env, "max_users", MAX_USERS)
        max_time = _opt(self.env, "max_run_time", MAX_RUN_TIME)
        users = int(getattr(options, "num_users", None) or 1)
        if users > max_users:
            log.warning("%d users is over the cap of %d (--max-users); running %d", users, max_users, max_users)
            users = max_users
        # The CLI gives the shape its exact length and locust's --run-time a later backstop.
        run_time = float(_opt(self.env, "run_time") or getattr(options, "run_time", None) or max_time)
        return ShapePlan(
            shape=_opt(self.env, "shape", "steady"),
            users=users,
            spawn_rate=float(getattr(options, "spawn_rate", None) or 1.0),
            run_time=min(run_time, max_time),
            ramp_steps=_opt(self.env, "ramp_steps", 5),
            spike_base=_opt(self.env, "spike_base", 0.2),
            spike_at=_opt(self.env, "spike_at", 0.4),
            spike_duration=_opt(self.env, "spike_duration"),
            soak_ramp=_opt(self.env, "soak_ramp"),
        )

    @property
    def host(self) -> str:
        return (self.env.host or "").rstrip("/")

    def host_refusal(self) -> str | None:
        if not self.host:
            return "no host: pass --host or --target"
        if host_allowed(self.host, _opt(self.env, "allow_host", []) or []):
            return None
        name = urlsplit(self.host).hostname or self.host
        return (
            f"refusing to load-test {name}: only 127.0.0.1/localhost are allowed by default; "
            f"if {name} is a staging Canvas you may load, add --allow-host {name}"
        )

    # -- setting up a run (local and master) --------------------------------------------------
    def start(self) -> None:
        self.metrics.reset()
        self._read_behaviour()  # a worker has the master's options only now
        self.cleaned = False
        self.summary = None
        self.started = time.time()
        self.stopped_at = 0.0
        if self.role == "worker":
            runner = self.env.runner
            self.metrics.label = f"worker-{getattr(runner, 'worker_index', '?')}"
            seed = _opt(self.env, "seed")  # the master's options reach a worker only now
            self.rng = random.Random(None if seed is None else f"{seed}-{self.metrics.label}")
            return
        try:
            refusal = self.host_refusal()
            if refusal:
                raise HarnessError(refusal)
            self.plan()  # a bad shape option stops the run here, not in the shape's greenlet
            self._prepare()
        except (HarnessError, ValueError) as exc:
            self.refused = str(exc)  # nothing has been sent: the users stop before their first request
            log.error("%s", exc)
            print(f"{PROGRESS_PREFIX} error: {exc}", flush=True)
            self.env.process_exit_code = 2
            gevent.spawn(self._quit)
            return
        self._configure_teachers()
        self._background = [gevent.spawn(self._sample_users)]
        every = _opt(self.env, "progress_every", 10.0)
        if every and every > 0:
            self._background.append(gevent.spawn(self._progress, every))

    def _quit(self) -> None:
        runner = self.env.runner
        if runner is not None:
            runner.quit()

    def _prepare(self) -> None:
        target_path = _opt(self.env, "target")
        if self.target is None:
            if target_path:
                self.target = load_target(target_path)
            elif self._is_mock():
                from canvas_ai_harness.mock.world import default_target

                self.target = default_target(self.host)
            else:
                raise HarnessError("no target: pass --target PATH (a target file, README.md 'Target file')")
            self.redact = Redactor(self.target.secrets())
        if self.target.base_url.rstrip("/") != self.host:
            log.warning("--host %s differs from the target's base_url; requests go to --host", self.host)
        self.world = World.of(self.target)
        if self.pool is None:
            self.pool = self._pool(self.target)
        self.thresholds = self._thresholds()

    def _thresholds(self) -> Thresholds:
        path = _opt(self.env, "thresholds")
        return load_thresholds(Path(path)) if path else DEFAULTS

    def _pool(self, target: Target) -> IdentityPool:
        students = _opt(self.env, "students")
        teachers = [i for i in target_identities(target) if i.role == "teacher"]
        if students:
            listed = read_identity_csv(Path(students), target.tokens.admin)
            for identity in listed:
                self.redact.add(identity.token)
            if not any(i.role == "teacher" for i in listed):
                listed += teachers
            pool = IdentityPool(listed)
            pool.source = f"csv:{students}"
            return pool
        if self._is_mock():
            course = target.course_id
            return IdentityPool(teachers, lambda n: self._mock_students(course, n), batch=200)
        pool = IdentityPool(target_identities(target))
        pool.source = "target"
        return pool

    def _http(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        client = HTTPClient.from_url(self.host, connection_timeout=10, network_timeout=30)
        try:
            response = client.request(method, urlsplit(self.host).path + path, headers=headers or {})
            return response.status_code, response.read()
        finally:
            client.close()

    def _is_mock(self) -> bool:
        """Whether the host is the harness's mock (its control routes answer); asked once."""
        if self._mock is None:
            self._mock = False
            if self.host and host_allowed(self.host):  # the mock serves on loopback only
                try:
                    status, body = self._http("GET", "/__harness__/health")
                    self._mock = status == 200 and bool(json.loads(body).get("ok"))
                except Exception:
                    self._mock = False
        return self._mock

    def _mock_students(self, course_id: str, count: int) -> list[Identity]:
        status, body = self._http(
            "POST", f"/__harness__/students?{urlencode({'count': count, 'course_id': course_id})}"
        )
        if status != 200:
            raise HarnessError(f"the mock refused to create {count} students: {status} {body[:200]!r}")
        return [Identity.for_token(s["token"], "student", str(s["id"])) for s in json.loads(body)]

    def _configure_teachers(self) -> None:
        """Teachers run as a fixed count (one identity each); 0 takes the class out of the run."""
        teachers = max(0, int(_opt(self.env, "teachers", 1)))
        kept = []
        for cls in self._user_classes:
            if getattr(cls, "canvas_role", None) == "teacher":
                cls.fixed_count = teachers
                if teachers == 0:
                    continue
            kept.append(cls)
        self.env.user_classes = kept

    # -- identities (every role) --------------------------------------------------------------
    def acquire(self, role: str) -> Identity | None:
        """An identity for a user of this process, or ``None`` when none is left (the user waits)."""
        identity = self.seats.take(role)
        if identity is not None:
            return identity
        self._waiting[role] += 1
        try:
            with self._locks[role]:
                identity = self.seats.take(role)
                if identity is not None:
                    return identity
                wanted = max(1, self._waiting[role])
                self.seats.add(self._fetch(role, wanted))
                identity = self.seats.take(role)
        finally:
            self._waiting[role] -= 1
        if identity is None:
            self.metrics.counters["identity_starved"] += 1
        return identity

    def release(self, identity: Identity) -> None:
        self.seats.give_back(identity)

    def _fetch(self, role: str, count: int) -> list[Identity]:
        if self.role != "worker":
            return self._take_from_pool(role, count)
        ask = next(self._ids)
        answer = self._answers[ask] = gevent.event.AsyncResult()
        runner = self.env.runner
        assert runner is not None
        runner.send_message(_IDENTITIES_ASK, {"ask": ask, "role": role, "count": count})
        try:
            data = answer.get(timeout=30)
        except gevent.Timeout:
            log.error("the master did not answer a request for identities within 30 s")
            return []
        finally:
            self._answers.pop(ask, None)
        if data.get("world"):
            self.world = World(**data["world"])
        return [Identity.from_wire(w) for w in data.get("identities", [])]

    def _take_from_pool(self, role: str, count: int) -> list[Identity]:
        if self.pool is None or self.refused:
            return []
        with self._pool_lock:
            try:
                return self.pool.take(role, count)
            except HarnessError as exc:
                log.error("cannot get identities: %s", exc)
                return []

    def _on_identities_ask(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        data = msg.data
        identities = self._take_from_pool(data["role"], int(data["count"]))
        world = None if self.world is None else {"base_path": self.world.base_path, "profile": self.world.profile}
        reply = {"ask": data["ask"], "identities": [i.to_wire() for i in identities], "world": world}
        assert environment.runner is not None
        environment.runner.send_message(_IDENTITIES_GIVE, reply, client_id=msg.node_id)

    def _on_identities_give(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        answer = self._answers.get(msg.data["ask"])
        if answer is not None:
            answer.set(msg.data)

    # -- conversations for teachers -----------------------------------------------------------
    def note_conversation(self, conversation: int) -> None:
        if len(self.recent) < _RECENT:
            self.recent.append(conversation)
        else:
            self.recent[self._recent_at] = conversation
            self._recent_at = (self._recent_at + 1) % _RECENT

    # -- measures between processes -----------------------------------------------------------
    def report(self) -> dict[str, Any]:
        self.metrics.used_identities(self.seats.used)
        return self.metrics.take()

    def _on_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        if self.role == "worker":
            data["canvas_ai"] = self.report()

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        if "canvas_ai" in data:
            self.metrics.merge(data["canvas_ai"])

    # -- stopping: drain workers, clean up, summarise ------------------------------------------
    def _on_stopping(self, environment: Environment, **_kwargs: Any) -> None:
        if not self.stopped_at:
            self.stopped_at = time.time()  # the measured window ends here, before clean-up
        runner = environment.runner
        if not isinstance(runner, MasterRunner):
            return
        pending = {client.id for client in runner.clients.all}
        self._finals.clear()
        for client_id in pending:
            runner.send_message(_DRAIN, None, client_id=client_id)
        deadline = time.monotonic() + _opt(self.env, "cleanup_timeout", 60.0) + 30
        while time.monotonic() < deadline:
            connected = {client.id for client in runner.clients.all}
            if not (pending & connected) - self._finals:
                break
            gevent.sleep(0.1)
        else:
            log.error("some workers did not report their last measures in time; the summary misses them")

    def _on_drain(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        runner = environment.runner
        assert runner is not None
        runner.stop()  # stops this worker's users; test_stop then ends their conversations
        self.cleanup()
        runner.send_message(_FINAL, self.report())

    def _on_final(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        self.metrics.merge(msg.data or {})
        self._finals.add(msg.node_id)

    def _on_stop(self, environment: Environment, **_kwargs: Any) -> None:
        self.stopped_at = self.stopped_at or time.time()
        for greenlet in self._background:
            greenlet.kill(block=False)
        self._background = []
        if self.role != "master":
            self.cleanup()
        if self.role != "worker" and not self.refused:
            self.finish()

    def _on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        """Ctrl-C and SIGTERM reach here before the runner stops: stop it first, so that clean-up
        and the summary happen before locust settles its exit code."""
        runner = environment.runner
        if runner is None or runner.state in (STATE_STOPPED, STATE_STOPPING, STATE_CLEANUP):
            return
        if isinstance(runner, MasterRunner):
            runner.stop(send_stop_to_client=False)
        else:
            runner.stop()

    def cleanup(self) -> None:
        """End every conversation this process's users opened and may have left open."""
        if self.cleaned or self.world is None:
            return
        self.cleaned = True
        todo = self.ledger.to_close()
        if not todo:
            return
        timeout = _opt(self.env, "cleanup_timeout", 60.0)
        client = HTTPClient.from_url(self.host, concurrency=20, connection_timeout=10, network_timeout=30)
        group = gevent.pool.Pool(20)
        try:
            with gevent.Timeout(timeout, False):
                group.map(lambda entry: self._close(client, entry), todo)
        finally:
            group.kill(block=False)
            client.close()
        left = len(self.ledger.to_close())
        self.metrics.counters["cleanup_failed"] += left
        if left:
            log.error("clean-up could not end %d conversations", left)

    def _close(self, client: HTTPClient, entry: OpenConversation) -> None:
        assert self.world is not None
        identity = entry.identity
        query = f"?{urlencode(identity.params)}" if identity.params else ""
        headers = {"Authorization": identity.authorization, "Accept": "application/json"}

        def call(method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
            for attempt in range(6):
                try:
                    response = client.request(method, path + query, headers=headers)
                    body = response.read()
                    lower = {k.lower(): v for k, v in response.items()}
                except Exception as exc:
                    log.warning("clean-up %s failed: %s", method, type(exc).__name__)
                    return 0, b"", {}
                if not is_throttled(response.status_code, body, lower):
                    return response.status_code, body, lower
                gevent.sleep(min(0.5 * 2**attempt, 8))  # Canvas throttles clean-up too: back off
            return 429, b"", {}

        if entry.uncertain:  # a create broke off: ask Canvas which conversation it left active
            status, body, _ = call("GET", self.world.base_path)
            if status == 200:
                entry.uncertain = False
                found = _conversation_id(body)
                if found is not None and found != entry.conversation:
                    self._end(call, found)
        if entry.conversation is not None and self._end(call, entry.conversation):
            entry.conversation = None

    def _end(self, call: Callable[[str, str], tuple[int, bytes, dict[str, str]]], conversation: int) -> bool:
        """DELETE one conversation; ``True`` once it is closed (now, or already)."""
        assert self.world is not None
        status, _, _ = call("DELETE", f"{self.world.base_path}/{conversation}")
        if status == 200:
            self.metrics.counters["cleanup_closed"] += 1
        elif says_closed("deleteConversation", status):
            self.metrics.counters["cleanup_gone"] += 1
        return status == 200 or says_closed("deleteConversation", status)

    def finish(self) -> None:
        """Write the summary and reports and set the process's exit code from the verdict."""
        if self.summary is not None:
            return
        plan = self.plan()
        run = {
            "host": self.host,
            "profile": self.world.profile if self.world else None,
            "shape": plan.shape,
            "users": plan.users,
            "spawn_rate": plan.spawn_rate,
            "run_time_s": plan.run_time,
            "teachers": _opt(self.env, "teachers", 1),
            "think_scale": _opt(self.env, "think_scale", 1.0),
            "workers": self.env.runner.worker_count if isinstance(self.env.runner, MasterRunner) else 0,
            "identity_source": self.pool.source if self.pool else None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
        }
        self.metrics.used_identities(self.seats.used)
        duration = max((self.stopped_at or time.time()) - self.started, 1e-3)
        self.summary = summarise(self.metrics, duration, run, self.thresholds)
        report_dir = _opt(self.env, "report_dir")
        if report_dir:
            try:
                self.summary["reports"] = write_reports(self.summary, self.metrics, Path(report_dir))
            except OSError as exc:
                log.error("cannot write the reports to %s: %s", report_dir, exc)
        verdict = self.summary["verdict"]
        for line in verdict["missed"]:
            print(f"{PROGRESS_PREFIX} {line}", flush=True)
        self.env.process_exit_code = 0 if verdict["passed"] else 1

    # -- background greenlets (local and master) ----------------------------------------------
    def _sample_users(self) -> None:
        while True:
            runner = self.env.runner
            if runner is not None:
                self.metrics.record_users(time.time(), runner.user_count)
            gevent.sleep(1.0)

    def _progress(self, every: float) -> None:
        while True:
            gevent.sleep(every)
            print(f"{PROGRESS_PREFIX} {self.progress_line()}", flush=True)

    def progress_line(self) -> str:
        totals = self.metrics.totals()
        elapsed = time.time() - self.started
        requests = sum(totals.values())
        runner = self.env.runner
        users = runner.user_count if runner is not None else 0
        p95 = self.metrics.routes.get("postMessage")
        slow = p95.latency.percentile(95) if p95 is not None else None
        shown = f"{slow:.0f} ms" if slow is not None else "-"
        return (
            f"{elapsed:5.0f}s users={users} requests={requests} ({requests / max(elapsed, 1e-9):.1f}/s) "
            f"ok={totals.get('ok', 0)} throttled={totals.get('throttled', 0)} "
            f"ai503={totals.get('ai_unavailable', 0)} contract={totals.get('contract', 0)} "
            f"errors={totals.get('error', 0)} p95(postMessage)={shown}"
        )


def _conversation_id(body: bytes) -> int | None:
    try:
        value = json.loads(body).get("id")
        return None if value is None else int(value)
    except (ValueError, TypeError, AttributeError):
        return None


# -- wiring -------------------------------------------------------------------------------------
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    rt = Runtime(environment)
    _RUNTIMES[id(environment)] = rt
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(_IDENTITIES_GIVE, rt._on_identities_give)
        runner.register_message(_DRAIN, rt._on_drain, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(_IDENTITIES_ASK, rt._on_identities_ask, concurrent=True)
        runner.register_message(_FINAL, rt._on_final)
    hooks = environment.events
    handlers: list[tuple[Any, Callable[..., None]]] = [
        (hooks.test_start, lambda **_kw: rt.start()),
        (hooks.test_stopping, rt._on_stopping),
        (hooks.test_stop, rt._on_stop),
        (hooks.quitting, rt._on_quitting),
        (hooks.report_to_master, rt._on_report),
        (hooks.worker_report, rt._on_worker_report),
    ]
    for hook, handler in handlers:
        hook.add_listener(handler)
    if environment.host is None and _opt(environment, "target"):
        try:
            rt.target = load_target(_opt(environment, "target"))
        except HarnessError as exc:
            sys.stderr.write(f"canvas-ai-harness: error: {exc}\n")
            sys.exit(2)
        environment.host = rt.target.base_url


events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
