"""Run the mock Canvas on a real socket: in a background thread (tests, embedded runs) or in the
foreground (``canvas-ai-harness mock``).

``MockServer`` binds before it starts, so port 0 gives a free port and ``url`` is known at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn

from canvas_ai_harness.config import Target, Tokens
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.mock import world as w
from canvas_ai_harness.mock.app import create_app
from canvas_ai_harness.mock.faults import make_service
from canvas_ai_harness.mock.service import MockConfig

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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class MockServer:
    """The mock Canvas served by uvicorn on ``host:port`` (port 0: any free port)."""

    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = make_service(config or MockConfig())
        self.app = create_app(self.service)
        self._socket = _bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def target(self) -> Target:
        """A target describing this server's default world, every optional field filled."""
        return default_target(self.url, self.service.profile.name)

    def start(self) -> MockServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock Canvas did not start within 10 s")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (uvicorn handles SIGINT and SIGTERM), then return."""
        # uvicorn shuts down gracefully, then re-raises the SIGINT it caught: for a server that
        # runs until Ctrl-C, that is the normal end, not an interruption (exit 0, not 130).
        with contextlib.suppress(KeyboardInterrupt):
            self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
