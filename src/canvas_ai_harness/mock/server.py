"""Run the mock Canvas on a real socket: in a background thread (tests, embedded runs) or in the
foreground (``canvas-ai-harness mock``).

``MockServer`` binds before it starts, so port 0 gives a free port and ``url`` is known at once.
"""

from __future__ import annotations

from canvas_ai_harness.config import Target, Tokens
from canvas_ai_harness.mock import world as w
from canvas_ai_harness.mock.app import create_app
from canvas_ai_harness.mock.faults import make_service
from canvas_ai_harness.mock.service import MockConfig
from canvas_ai_harness.serving import UvicornServer

__all__ = ["MockServer", "default_target"]


def default_target(base_url: str, profile: str = "completed") -> Target:
    """The target file of the default world (``mock/world.py``) served at ``base_url``."""
    return Target(
        base_url=base_url,
        course_id="101",
        ai_experience_id="7",
        profile=profile,
        course_sis_id="BIO-101-F26",
        other_ai_experience_id="8",
        unpublished_ai_experience_id="9",
        deleted_ai_experience_id="10",
        other_course_ai_experience_id="20",
        feature_disabled_course_id="303",
        feature_disabled_ai_experience_id="30",
        tokens=Tokens(
            student=w.STUDENT_TOKEN,
            other_student=w.OTHER_STUDENT_TOKEN,
            teacher=w.TEACHER_TOKEN,
            outsider=w.OUTSIDER_TOKEN,
            admin=w.ADMIN_TOKEN,
        ),
        source="<mock>",
    )


class MockServer(UvicornServer):
    """The mock Canvas served by uvicorn on ``host:port`` (port 0: any free port)."""

    name = "the mock Canvas"

    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = make_service(config or MockConfig())
        super().__init__(create_app(self.service), host, port, lifespan="off")

    def target(self) -> Target:
        """A target describing this server's default world, every optional field filled."""
        return default_target(self.url, self.service.profile.name)
