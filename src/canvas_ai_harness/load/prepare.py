"""Setting up a load run in locust (local and master): the target, where identities come from, thresholds, teachers.

``Preparation`` is a part of ``Runtime`` (``runtime.py``): the run's ``World`` (where the
conversations are) is set here, or, in a worker, from the master's answer (``handout.py``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from geventhttpclient import HTTPClient

from canvas_ai_harness.config import Target, load_target
from canvas_ai_harness.errors import HarnessError
from canvas_ai_harness.load.identities import Identity, IdentityPool, read_identity_csv, target_identities
from canvas_ai_harness.load.options import parsed_option as _opt
from canvas_ai_harness.load.safety import host_allowed
from canvas_ai_harness.load.state import RuntimeState, World
from canvas_ai_harness.load.thresholds import DEFAULTS, Thresholds, load_thresholds
from canvas_ai_harness.redact import Redactor

__all__ = ["Preparation"]

log = logging.getLogger("canvas_ai_harness.load")


class Preparation(RuntimeState):
    """What a run needs before its first request: the target, the identity pool, thresholds, teachers."""

    def _prepare(self) -> None:
        target_path = _opt(self.env, "target")
        if self.target is None:
            if target_path:
                self.target = load_target(target_path)
            elif self._is_mock():
                from canvas_ai_harness.mock.world import default_target

                self.target = default_target(self.host)
            else:
                raise HarnessError("no target: pass --target PATH (a target file, README.md 'Target file')")
            self.redact = Redactor(self.target.secrets())
        if self.target.base_url.rstrip("/") != self.host:
            log.warning("--host %s differs from the target's base_url; requests go to --host", self.host)
        self.world = World.of(self.target)
        if self.pool is None:
            self.pool = self._pool(self.target)
        self.thresholds = self._thresholds()

    def _thresholds(self) -> Thresholds:
        path = _opt(self.env, "thresholds")
        return load_thresholds(Path(path)) if path else DEFAULTS

    def _pool(self, target: Target) -> IdentityPool:
        students = _opt(self.env, "students")
        teachers = [i for i in target_identities(target) if i.role == "teacher"]
        if students:
            listed = read_identity_csv(Path(students), target.tokens.admin, target.tokens.teacher)
            for identity in listed:
                self.redact.add(identity.token)
            if not any(i.role == "teacher" for i in listed):
                listed += teachers
            pool = IdentityPool(listed)
            pool.source = f"csv:{students}"
            return pool
        if self._is_mock():
            course = target.course_id
            return IdentityPool(teachers, lambda n: self._mock_students(course, n), batch=200)
        pool = IdentityPool(target_identities(target))
        pool.source = "target"
        return pool

    def _http(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        client = HTTPClient.from_url(self.host, connection_timeout=10, network_timeout=30)
        try:
            response = client.request(method, urlsplit(self.host).path + path, headers=headers or {})
            return response.status_code, response.read()
        finally:
            client.close()

    def _is_mock(self) -> bool:
        """Whether the host is the harness's mock (its control routes answer); asked once."""
        if self._mock is None:
            self._mock = False
            if self.host and host_allowed(self.host):  # the mock serves on loopback only
                try:
                    status, body = self._http("GET", "/__harness__/health")
                    self._mock = status == 200 and bool(json.loads(body).get("ok"))
                except Exception:
                    self._mock = False
        return self._mock

    def _mock_students(self, course_id: str, count: int) -> list[Identity]:
        status, body = self._http(
            "POST", f"/__harness__/students?{urlencode({'count': count, 'course_id': course_id})}"
        )
        if status != 200:
            said = self.redact(body.decode("utf-8", "replace"))[:200]  # redact, then shorten
            raise HarnessError(f"the mock refused to create {count} students: {status} {said!r}")
        return [Identity.for_token(s["token"], "student", str(s["id"])) for s in json.loads(body)]

    def _configure_teachers(self) -> None:
        """Teachers run as a fixed count (one identity each); 0 takes the class out of the run."""
        teachers = max(0, int(_opt(self.env, "teachers")))
        kept = []
        for cls in self._user_classes:
            if getattr(cls, "canvas_role", None) == "teacher":
                cls.fixed_count = teachers
                if teachers == 0:
                    continue
            kept.append(cls)
        self.env.user_classes = kept
