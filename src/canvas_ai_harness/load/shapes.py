"""The four load shapes as locust ``LoadTestShape``s (imported only by locust processes).

The arithmetic lives in ``plans.py``; these classes read it from the command line (``--shape``,
``-u``, ``-r``, ``-t`` and the shape's own options), so the web UI's user count, spawn rate and
run time apply too (``use_common_options``). ``CommandLineShape`` is what the locustfile exposes:
locust runs the first shape class it finds, and this one picks the shape named by ``--shape``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

from locust import LoadTestShape

from canvas_ai_harness.load.plans import ShapePlan
from canvas_ai_harness.load.runtime import runtime

__all__ = ["CommandLineShape", "RampShape", "SoakShape", "SpikeShape", "SteadyShape"]


class _PlannedShape(LoadTestShape):
    abstract = True
    use_common_options = True
    shape: ClassVar[str | None] = None  # None: the one --shape names

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._plan: ShapePlan | None = None

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        self._plan = None  # a new run (the web UI can start several): read the options again

    def tick(self) -> tuple[int, float] | None:
        runner = self.runner
        if runner is None:
            return None
        rt = runtime(runner.environment)
        if rt.refused:
            return None
        if self._plan is None:
            plan = rt.plan()
            if self.shape is not None and plan.shape != self.shape:
                plan = dataclasses.replace(plan, shape=self.shape)
            self._plan = plan
        return self._plan.tick(time.perf_counter() - self.start_time)


class CommandLineShape(_PlannedShape):
    """The shape named by ``--shape`` (steady by default)."""

    abstract = False


class SteadyShape(_PlannedShape):
    shape = "steady"


class RampShape(_PlannedShape):
    shape = "ramp"


class SpikeShape(_PlannedShape):
    shape = "spike"


class SoakShape(_PlannedShape):
    shape = "soak"
