"""The end of a run and its progress: the summary, the reports, the verdict as the exit code.

``finish`` runs in the process that holds the measures (local or master) once the users have
stopped and clean-up is done; the progress line and the user count are sampled while the run
goes. ``Finish`` is a part of ``Runtime`` (``runtime.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner

from canvas_ai_harness.exits import EXIT_FAILED, EXIT_OK
from canvas_ai_harness.htmlreport import command_line
from canvas_ai_harness.load.options import parsed_option as _opt
from canvas_ai_harness.load.progress import PROGRESS_LINE, progress_line
from canvas_ai_harness.load.report import COMMAND_ENV, INTERRUPTED_ENV, PROGRESS_PREFIX, summarise, write_reports
from canvas_ai_harness.load.state import RuntimeState
from canvas_ai_harness.redact import redact_data

__all__ = ["Finish"]

log = logging.getLogger("canvas_ai_harness.load")


def _interrupted() -> bool:
    """Whether the CLI that runs this locust was interrupted (it says so with a file, before the SIGINT)."""
    marker = os.environ.get(INTERRUPTED_ENV)
    return marker is not None and Path(marker).exists()


class Finish(RuntimeState):
    """The summary and reports (``finish``), and what the run shows while it goes."""

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
            "teachers": _opt(self.env, "teachers"),
            "think_scale": _opt(self.env, "think_scale"),
            "request_timeout_s": _opt(self.env, "request_timeout"),
            "workers": self.env.runner.worker_count if isinstance(self.env.runner, MasterRunner) else 0,
            "identity_source": self.pool.source if self.pool else None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "interrupted": _interrupted(),
        }
        self.metrics.used_identities(self.seats.used)
        self.metrics.stall_s = max(self.metrics.stall_s, self.inflight.stall(time.time()))
        duration = max((self.stopped_at or time.time()) - self.started, 1e-3)
        # Every message in it was redacted before it was shortened; this catches what was not cut.
        self.summary = redact_data(summarise(self.metrics, duration, run, self.thresholds), self.redact)
        report_dir = _opt(self.env, "report_dir")
        if report_dir:
            try:
                self.summary["reports"] = write_reports(
                    self.summary,
                    self.metrics,
                    Path(report_dir),
                    thresholds=self.thresholds,
                    started=self.started,
                    command=self._command(),
                    locust=self._locust_figures(),
                )
            except OSError as exc:
                log.error("cannot write the reports to %s: %s", report_dir, exc)
        verdict = self.summary["verdict"]
        for line in verdict["missed"]:
            print(f"{PROGRESS_PREFIX} {line}", flush=True)
        self.env.process_exit_code = EXIT_OK if verdict["passed"] else EXIT_FAILED

    def _command(self) -> str:
        """The command line for the report: the CLI's (it hands it over, redacted) or locust's own."""
        given = os.environ.get(COMMAND_ENV)
        return self.redact(given) if given else command_line(["locust", *sys.argv[1:]], self.redact)

    def _locust_figures(self) -> dict[str, Any] | None:
        """locust's own figures for this run, to set beside ours in the report."""
        runner = self.env.runner
        if runner is None:
            return None
        stats = runner.stats
        total = stats.total
        end = stats.last_request_timestamp
        return {
            "rps": total.total_rps,
            "requests": total.num_requests,
            "duration_s": (end - stats.start_time) if end else None,
            "p95_ms": {name: entry.get_response_time_percentile(0.95) for (name, _m), entry in stats.entries.items()},
        }

    # -- while the run goes (local and master) ------------------------------------------------
    def _sample_users(self) -> None:
        while True:
            runner = self.env.runner
            if runner is not None:
                self.metrics.record_users(time.time(), runner.user_count)
            gevent.sleep(1.0)

    def _progress(self, every: float) -> None:
        while True:
            gevent.sleep(every)
            print(f"{PROGRESS_PREFIX} {PROGRESS_LINE}{self.progress_line()}", flush=True)

    def progress_line(self) -> str:
        runner = self.env.runner
        now = time.time()
        return progress_line(
            self.metrics,
            self.thresholds,
            elapsed=now - self.started,
            total=self.plan().run_time,
            users=runner.user_count if runner is not None else 0,
            # A master hears from its workers every WORKER_REPORT_INTERVAL (3 s): the last seconds are not in yet.
            now=now - (WORKER_REPORT_INTERVAL if isinstance(runner, MasterRunner) else 0.0),
        )
