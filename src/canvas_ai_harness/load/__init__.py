"""The load suite: locust scenarios against the AI Conversations routes, thresholds and a verdict.

``run_load(LoadOptions(...)) -> LoadResult`` is the library entry point (``canvas-ai-harness load``
and ``check`` call it); it runs locust in subprocesses and never imports it here.

Modules that import nothing of locust (safe in any process, and in pytest):
``run`` (run_load), ``options`` (the table of options: the CLI's, ``LoadOptions``' and the
locustfile's), ``plans`` (shape arithmetic), ``behaviour`` (what students type and how long
they think), ``identities``, ``outcomes``, ``checks`` (sampled contract checks), ``histogram``,
``metrics``, ``thresholds``, ``report``, ``safety``.

Modules only locust processes import (locust monkey-patches with gevent on import):
``runtime`` (the run controller and its wiring to locust's events) with its parts ``state``,
``prepare``, ``handout`` (identities across processes), ``cleanup`` and ``finish`` (summary,
reports); ``users`` (the student and teacher scenarios), ``shapes`` (``LoadTestShape``s) and
``locustfile``.
"""

from __future__ import annotations

from canvas_ai_harness.load.run import LoadOptions, LoadResult, run_load

__all__ = ["LoadOptions", "LoadResult", "run_load"]
