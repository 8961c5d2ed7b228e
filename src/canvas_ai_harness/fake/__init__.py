"""A stateful fake Canvas for Python clients built on ``requests`` (``responses`` underneath).

``FakeCanvas`` is a context manager, a decorator, and (through the ``canvas_fake`` pytest
fixture this package registers) a fixture. See ``fake/canvas.py`` for what it checks.
"""

from __future__ import annotations

from canvas_ai_harness.fake.calls import CallLog, FakeCall
from canvas_ai_harness.fake.canvas import FakeCanvas, NonConformingRequest

__all__ = ["CallLog", "FakeCall", "FakeCanvas", "NonConformingRequest"]
