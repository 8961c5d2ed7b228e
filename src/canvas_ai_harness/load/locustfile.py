"""The load suite's locustfile: ``locust -f`` this file (or ``load/locustfile.py``, which is the same).

Everything lives in the package; this file only puts the user classes and the shape where
locust looks for them. ``canvas-ai-harness load`` runs it in a subprocess of its own.
"""

from __future__ import annotations

from canvas_ai_harness.load.shapes import CommandLineShape
from canvas_ai_harness.load.users import StudentUser, TeacherUser

__all__ = ["CommandLineShape", "StudentUser", "TeacherUser"]
