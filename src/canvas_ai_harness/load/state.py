"""What one locust process's ``Runtime`` holds, and its options read as objects.

``RuntimeState`` is the base of ``Runtime`` and of each of its parts (``prepare.py``,
``handout.py``, ``cleanup.py``, ``finish.py``): the attributes they share, the behaviour and
shape plan read from the options, and whether the host may be loaded.
"""

from __future__ import annotations

import itertools
import logging
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.lock
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from canvas_ai_harness.config import Target
from canvas_ai_harness.load.behaviour import Behaviour
from canvas_ai_harness.load.checks import ResponseChecker
from canvas_ai_harness.load.identities import IdentityPool, Seats
from canvas_ai_harness.load.inflight import InFlight
from canvas_ai_harness.load.ledger import Ledger
from canvas_ai_harness.load.metrics import Metrics
from canvas_ai_harness.load.options import parsed_option as _opt
from canvas_ai_harness.load.plans import ShapePlan
from canvas_ai_harness.load.safety import host_allowed
from canvas_ai_harness.load.thresholds import DEFAULTS, Thresholds
from canvas_ai_harness.redact import Redactor

__all__ = ["RuntimeState", "World"]

log = logging.getLogger("canvas_ai_harness.load")


@dataclass(frozen=True, slots=True)
class World:
    """Where the conversations are: what every user needs besides its identity."""

    base_path: str  # /api/v1/courses/<course>/ai_experiences/<experience>/conversations
    profile: str = "completed"

    @classmethod
    def of(cls, target: Target) -> World:
        prefix = urlsplit(target.base_url).path.rstrip("/")
        return cls(prefix + target.path(), target.profile)


class RuntimeState:
    """Everything the load suite keeps in one locust process (see ``runtime.Runtime``)."""

    def __init__(self, environment: Environment) -> None:
        self.env = environment
        runner = environment.runner
        self.role = (
            "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) else "local"
        )
        self.metrics = Metrics(self.role)
        self.seats = Seats()
        self.ledger = Ledger()
        self.inflight = InFlight()
        self.stopping = False  # users send nothing new once the run stops
        self.hurry = False  # a second Ctrl-C: cut the waits of stopping (settling, clean-up) short
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
            think_scale=max(0.0, float(_opt(env, "think_scale"))),
            turns_mean=float(_opt(env, "turns_mean")),
            leave_rate=float(_opt(env, "leave_rate")),
            restart_rate=float(_opt(env, "restart_rate")),
            preview_rate=float(_opt(env, "preview_rate")),
        )
        self.sample_rate = min(1.0, max(0.0, float(_opt(env, "contract_sample"))))

    def plan(self) -> ShapePlan:
        """The shape plan from the options (users, spawn rate and run time as locust parsed them)."""
        options = self.env.parsed_options
        max_users = _opt(self.env, "max_users")
        max_time = _opt(self.env, "max_run_time")
        users = int(getattr(options, "num_users", None) or 1)
        if users > max_users:
            log.warning("%d users is over the cap of %d (--max-users); running %d", users, max_users, max_users)
            users = max_users
        # The CLI gives the shape its exact length and locust's --run-time a later backstop.
        run_time = float(_opt(self.env, "shape_run_time") or getattr(options, "run_time", None) or max_time)
        return ShapePlan(
            shape=_opt(self.env, "shape"),
            users=users,
            spawn_rate=float(getattr(options, "spawn_rate", None) or 1.0),
            run_time=min(run_time, max_time),
            ramp_steps=_opt(self.env, "ramp_steps"),
            spike_base=_opt(self.env, "spike_base"),
            spike_at=_opt(self.env, "spike_at"),
            spike_duration=_opt(self.env, "spike_duration"),
            soak_ramp=_opt(self.env, "soak_ramp"),
        )

    @property
    def host(self) -> str:
        return (self.env.host or "").rstrip("/")

    def host_refusal(self) -> str | None:
        if not self.host:
            return "no host: pass --host or --target"
        if host_allowed(self.host, _opt(self.env, "allow_hosts") or []):
            return None
        name = urlsplit(self.host).hostname or self.host
        return (
            f"refusing to load-test {name}: only 127.0.0.1/localhost are allowed by default; "
            f"if {name} is a staging Canvas you may load, add --allow-host {name}"
        )
