"""The load suite: locust scenarios against the AI Conversations routes, thresholds and a verdict.

``run_load(LoadOptions(...)) -> LoadResult`` is the library entry point (``canvas-ai-harness load``
and ``check`` call it); it runs locust in subprocesses and never imports it here.

Modules that import nothing of locust (safe in any process, and in pytest):
``run`` (run_load), ``plans`` (shape arithmetic), ``behaviour`` (what students type and how long
they think), ``identities``, ``outcomes``, ``checks`` (sampled contract checks), ``histogram``,
``metrics``, ``thresholds``, ``report``, ``safety``.

Modules only locust processes import (locust monkey-patches with gevent on import):
``runtime`` (options, identities across processes, clean-up, reports), ``users`` (the student
and teacher scenarios), ``shapes`` (``LoadTestShape``s) and ``locustfile``.
"""

from __future__ import annotations

from canvas_ai_harness.load.run import LoadOptions, LoadResult, run_load

__all__ = ["LoadOptions", "LoadResult", "run_load"]
