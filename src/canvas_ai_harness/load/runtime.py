"""The load suite inside locust: one ``Runtime`` per process, and its wiring to locust's events.

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

``Runtime`` is this module's run controller (start, stop, measures between processes) plus
one part per job on a shared base, ``state.py`` (what a process holds, its options as objects,
``World``): ``prepare.py`` (target, identity pool, thresholds, teachers), ``handout.py``
(identities across processes), ``cleanup.py`` (ending the run's conversations) and
``finish.py`` (summary, reports, progress). The options come from ``options.py``'s table.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner

from canvas_ai_harness.config import load_target
from canvas_ai_harness.errors import HarnessError
from canvas_ai_harness.exits import EXIT_USAGE
from canvas_ai_harness.interrupts import take_back_sigint
from canvas_ai_harness.load.cleanup import CleanUp
from canvas_ai_harness.load.finish import Finish
from canvas_ai_harness.load.handout import IDENTITIES_ASK, IDENTITIES_GIVE, Handout
from canvas_ai_harness.load.options import add_arguments
from canvas_ai_harness.load.options import parsed_option as _opt
from canvas_ai_harness.load.prepare import Preparation
from canvas_ai_harness.load.report import PROGRESS_PREFIX
from canvas_ai_harness.load.state import World
from canvas_ai_harness.load.supervise import HURRY_SIGNAL  # a second Ctrl-C: cut stopping short, keep the reports

__all__ = ["Runtime", "World", "runtime"]

log = logging.getLogger("canvas_ai_harness.load")
# Started from a background job, locust would ignore the SIGINT that stops it (and that it sends
# its workers, which fork from this process): the run would go on to its full run time.
take_back_sigint()
_DRAIN, _FINAL = "canvas_ai_drain", "canvas_ai_final"
_RECENT = 1000  # conversation ids kept for teachers to review
_RUNTIMES: dict[int, Runtime] = {}


def runtime(environment: Environment) -> Runtime:
    """This process's runtime (created by the ``init`` event)."""
    return _RUNTIMES[id(environment)]


def _hurry(signum: int, frame: object) -> None:
    for rt in _RUNTIMES.values():
        rt.hurry = True  # polled by every wait of stopping; nothing else is safe in a signal handler


signal.signal(HURRY_SIGNAL, _hurry)  # at import: a worker forked from this process has it too


# -- the runtime --------------------------------------------------------------------------------
class Runtime(Preparation, Handout, CleanUp, Finish):
    """The load suite in one locust process: starts and stops the run; its parts do the rest."""

    # -- setting up a run (local and master) --------------------------------------------------
    def start(self) -> None:
        self.metrics.reset()
        self._read_behaviour()  # a worker has the master's options only now
        self.cleaned = False
        self.summary = None
        self.stopping = self.hurry = False
        self.inflight.reset()
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
            self.env.process_exit_code = EXIT_USAGE
            gevent.spawn(self._quit)
            return
        self._configure_teachers()
        self._background = [gevent.spawn(self._sample_users)]
        every = _opt(self.env, "progress_every")
        if every and every > 0:
            self._background.append(gevent.spawn(self._progress, every))

    def _quit(self) -> None:
        runner = self.env.runner
        if runner is not None:
            runner.quit()

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
        self.metrics.stall_s = max(self.metrics.stall_s, self.inflight.stall(time.time()))
        return self.metrics.take()

    def _on_user_error(self, user_instance: Any, exception: BaseException, tb: Any, **_kwargs: Any) -> None:
        """A simulated user crashed: the load is not what was asked, so the run cannot pass."""
        self.metrics.counters["user_crashed"] += 1
        text = self.redact(f"{type(exception).__name__}: {exception}")  # redact first, then cut
        self.metrics.record_error(f"{type(user_instance).__name__} crashed: {text[:200]}")

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
        self.stopping = True
        runner = environment.runner
        if not isinstance(runner, MasterRunner):
            self._settle()
            return
        pending = {client.id for client in runner.clients.all}
        self._finals.clear()
        for client_id in pending:
            runner.send_message(_DRAIN, None, client_id=client_id)
        deadline = time.monotonic() + _opt(self.env, "cleanup_timeout") + 30
        while time.monotonic() < deadline:
            connected = {client.id for client in runner.clients.all}
            if not (pending & connected) - self._finals or self.hurry:
                break
            gevent.sleep(0.1)
        else:
            log.error("some workers did not report their last measures in time; the summary misses them")

    def _settle(self) -> None:
        """Give the requests still waiting up to ``--request-timeout`` to finish before the users stop.

        A request answered now is counted as it came; one still waiting when its own timer ends is
        a timeout, and one still waiting after this (a second Ctrl-C) is counted as a timeout when
        its user is stopped.
        """
        deadline = time.monotonic() + float(_opt(self.env, "request_timeout")) + 5
        while self.inflight.waiting() and not self.hurry and time.monotonic() < deadline:
            gevent.sleep(0.05)

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


# -- wiring -------------------------------------------------------------------------------------
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    rt = Runtime(environment)
    _RUNTIMES[id(environment)] = rt
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(IDENTITIES_GIVE, rt._on_identities_give)
        runner.register_message(_DRAIN, rt._on_drain, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(IDENTITIES_ASK, rt._on_identities_ask, concurrent=True)
        runner.register_message(_FINAL, rt._on_final)
    hooks = environment.events
    handlers: list[tuple[Any, Callable[..., None]]] = [
        (hooks.test_start, lambda **_kw: rt.start()),
        (hooks.test_stopping, rt._on_stopping),
        (hooks.test_stop, rt._on_stop),
        (hooks.quitting, rt._on_quitting),
        (hooks.report_to_master, rt._on_report),
        (hooks.user_error, rt._on_user_error),
        (hooks.worker_report, rt._on_worker_report),
    ]
    for hook, handler in handlers:
        hook.add_listener(handler)
    if environment.host is None and _opt(environment, "target"):
        try:
            rt.target = load_target(_opt(environment, "target"))
        except HarnessError as exc:
            sys.stderr.write(f"canvas-ai-harness: error: {exc}\n")
            sys.exit(EXIT_USAGE)
        environment.host = rt.target.base_url


events.init_command_line_parser.add_listener(add_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
