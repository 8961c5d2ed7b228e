"""The pytest plugin (entry point ``pytest11``): the ``canvas_fake`` fixture and its marker.

Installed with canvas-ai-harness, so any project's tests can ask for ``canvas_fake`` without a
conftest. ``@pytest.mark.canvas_fake(profile="ended", base_url=..., check_requests=False)``
passes options to ``FakeCanvas``. pytest loads this module in every run, so it imports nothing
heavy until a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from canvas_ai_harness.fake import FakeCanvas

__all__ = ["canvas_fake", "pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "canvas_fake(**options): FakeCanvas options for the canvas_fake fixture (base_url, profile...)"
    )


@pytest.fixture
def canvas_fake(request: pytest.FixtureRequest) -> Iterator[FakeCanvas]:
    """A fresh, active ``FakeCanvas`` at https://canvas.example.edu (the default world)."""
    from canvas_ai_harness.fake import FakeCanvas

    marker = request.node.get_closest_marker("canvas_fake")
    options = dict(marker.kwargs) if marker is not None else {}
    with FakeCanvas(**options) as fake:
        yield fake
