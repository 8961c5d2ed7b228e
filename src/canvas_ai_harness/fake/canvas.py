"""``FakeCanvas``: a stateful fake Canvas for Python clients built on ``requests``.

It intercepts ``requests`` with ``responses`` and answers through the mock's ``CanvasService``,
so it keeps state exactly as the mock server does (ids grow, transcripts grow, one active
conversation per user and experience, both profiles) without a rule written twice. Every
request is first checked against ``specs/openapi.yaml``:

- a request the spec does not allow raises ``NonConformingRequest`` (an ``AssertionError``)
  saying what was wrong and what the spec expects, so the test fails where the client erred;
- a request to a route the fake does not know raises ``requests.ConnectionError`` listing
  the routes it knows (Canvas has many other routes; the fake will not guess their answers).

Use it as a context manager, as a decorator, or through the ``canvas_fake`` pytest fixture::

    with FakeCanvas() as canvas:
        canvas.fail_ai(times=1)          # the next AI call answers Canvas's 503
        run_my_client(canvas.base_url, canvas.tokens.student)
        canvas.calls.assert_called("createConversation", times=2)
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import requests
import responses

from canvas_ai_harness.canvas import bodies, routes
from canvas_ai_harness.config import Target, Tokens
from canvas_ai_harness.fake.calls import CallLog, FakeCall
from canvas_ai_harness.fake.faults import FaultInjector
from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, CanvasService, MockConfig
from canvas_ai_harness.mock.world import default_target
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.validation import Operation, SpecValidator, Violation

__all__ = ["DEFAULT_BASE_URL", "FakeCanvas", "NonConformingRequest"]

DEFAULT_BASE_URL: Final = "https://canvas.example.edu"
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class NonConformingRequest(AssertionError):
    """A client sent a request that ``specs/openapi.yaml`` does not allow; ``violations`` says how."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        super().__init__(message)
        self.violations = violations


@functools.cache
def _shared_validator() -> SpecValidator:
    return SpecValidator()


class FakeCanvas:
    """A fake Canvas at ``base_url`` for ``requests``, backed by the mock's domain.

    ``check_requests=False`` records violations (``fake.calls.non_conforming``) but lets Canvas's
    own answer through (e.g. its routing 404 for a wrong method), to test a client's error paths.
    State persists across ``with`` blocks; ``reset()`` (or each decorated call) starts afresh.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        profile: Literal["completed", "ended"] | None = None,
        config: MockConfig | None = None,
        check_requests: bool = True,
        validator: SpecValidator | None = None,
    ) -> None:
        if config is not None and profile is not None:
            raise ValueError("give profile or config (with its profile), not both")
        self.base_url = base_url.rstrip("/")
        config = config or MockConfig(profile=profile or "completed", seed=0, record_calls=0)
        self.service = CanvasService(config)
        self.validator = validator or _shared_validator()
        self.check_requests = check_requests
        self.calls = CallLog()
        self.faults = FaultInjector(self.service)
        self._target = default_target(self.base_url, self.service.profile.name)
        self._redact = Redactor(self._target.secrets())
        self._lock = threading.Lock()
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._register()

    def _register(self) -> None:
        # One catch-all per method on the fake's host: the fake, not responses, decides what is unknown.
        pattern = re.compile(re.escape(self.base_url) + r"(?:[/?].*)?$")
        for method in _METHODS:
            self.mock.add_callback(method, pattern, callback=self._respond, content_type=None)

    # -- activation ---------------------------------------------------------------------------
    def start(self) -> FakeCanvas:
        """Intercept ``requests`` until ``stop()``."""
        self.mock.start()
        return self

    def stop(self) -> None:
        self.mock.stop(allow_assert=False)

    def __enter__(self) -> FakeCanvas:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorate a test: the fake is active during each call and reset after it."""

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self:
                try:
                    return func(*args, **kwargs)
                finally:
                    self.reset()

        return wrapper

    def reset(self) -> None:
        """Back to the default world: no conversations, no faults, no calls."""
        with self._lock:
            self.faults.clear()
            self.service.reset()
            self.calls.clear()

    # -- the world ----------------------------------------------------------------------------
    @property
    def tokens(self) -> Tokens:
        """The default world's tokens (student, other_student, teacher, outsider, admin)."""
        return self._target.tokens

    def target(self) -> Target:
        """A target describing the fake (its base URL and the default world's ids and tokens)."""
        return self._target

    def conversations_url(self, course_id: int | str = 101, ai_experience_id: int | str = 7) -> str:
        """``{base_url}/api/v1/courses/{course_id}/ai_experiences/{ai_experience_id}/conversations``."""
        return self.base_url + routes.conversations_path(course_id, ai_experience_id)

    def start_conversation(
        self, token: str | None = None, course_id: int | str = 101, ai_experience_id: int | str = 7
    ) -> dict[str, Any]:
        """Arrange state: create a conversation as ``token``'s user (default: the student), unrecorded."""
        response = self._call_service(
            ApiRequest(
                "POST",
                urlsplit(self.conversations_url(course_id, ai_experience_id)).path,
                headers={"authorization": f"Bearer {token or self.tokens.student}"},
            )
        )
        if response.status != 201:
            raise RuntimeError(f"could not start a conversation: {response.status} {response.body!r}")
        body: dict[str, Any] = response.json()
        return body

    # -- faults (see fake/faults.py: each configures the domain, then puts it back) ------------
    def fail_ai(self, times: int | None = 1) -> None:
        """The next ``times`` AI calls fail: create, show, active (with a conversation) and post_message answer 503."""
        self.faults.ai_unavailable(times)

    def throttle(self, times: int | None = 1) -> None:
        """The next ``times`` requests are throttled: 403 ``text/plain`` "403 Forbidden (Rate Limit Exceeded)"."""
        self.faults.throttle(times)

    def rate_limit(self, times: int | None = 1) -> None:
        """The next ``times`` creates or post_messages hit the per-user daily limit: 429 ``rate_limited``."""
        self.faults.rate_limit(times)

    def return_null_id(self, times: int | None = 1) -> None:
        """The next ``times`` creates get no id from the AI service: 201 with ``"id": null``, nothing saved."""
        self.faults.null_conversation_id(times)

    def complete(self, conversation_id: int) -> None:
        """Close a conversation as Canvas does (DELETE, or a newer create): a student then gets 404 for it."""
        conversation = self.service.store.get(conversation_id)
        if conversation is None:
            raise KeyError(f"no conversation {conversation_id}")
        self.service.store.close(conversation, self.service.profile.closed_state, datetime.now(UTC))

    def disable_feature(self, course_id: int = 101) -> None:
        """Turn the ``ai_experiences`` flag off: every route answers 404 "Resource Not Found"."""
        self.service.world.courses[course_id].ai_experiences_enabled = False

    def enable_feature(self, course_id: int = 101) -> None:
        self.service.world.courses[course_id].ai_experiences_enabled = True

    def set_role(self, token: str, role: Literal["teacher", "student"], course_id: int = 101) -> None:
        """Change a user's role in a course: a demoted teacher gets 403 or 404 from the teacher-only show."""
        user = self.service.world.user_for_token(token)
        if user is None:
            raise KeyError("no user has that token in the fake's world")
        self.service.world.enroll(user, self.service.world.courses[course_id], role)

    # -- answering ----------------------------------------------------------------------------
    def _call_service(self, request: ApiRequest) -> ApiResponse:
        with self._lock:
            response = self.service.respond(request, sleep=None)
            self.faults.settle(response)
        return response

    def _respond(self, request: requests.PreparedRequest) -> Exception | tuple[int, dict[str, str], bytes]:
        method = (request.method or "GET").upper()
        url = request.url or ""
        parts = urlsplit(url)
        path, query = unquote(parts.path), parts.query
        headers, body = _headers_and_body(request)
        operation, problems = self.validator.validate_request(method, path, query, headers, body)

        def record(status: int | None, answer: bytes = b"", answer_problems: tuple[Violation, ...] = ()) -> None:
            self.calls.append(
                FakeCall(
                    method,
                    url,
                    path,
                    query,
                    headers,
                    body,
                    operation.operation_id if operation else None,
                    status,
                    answer,
                    tuple(problems),
                    answer_problems,
                )
            )

        if operation is None and any(p.kind == "route" for p in problems):
            record(None)
            routes = "\n".join(f"  {route}" for route in self.validator.known_routes)
            return requests.ConnectionError(
                self._redact(f"FakeCanvas does not know {method} {url}. It knows these routes:\n{routes}"),
                request=request,
            )
        if problems and self.check_requests:
            record(None)
            return NonConformingRequest(self._explain(method, url, operation, problems), problems)

        response = self._call_service(ApiRequest(method, path, query, headers, body))
        answer_problems: tuple[Violation, ...] = ()
        if operation is not None:
            validator = self.validator
            if bodies.CANVAS_STRING_IDS in headers.get("accept", ""):
                validator = validator.with_string_ids()
            answer_problems = tuple(
                validator.validate_response(
                    operation.operation_id,
                    response.status,
                    {**response.headers, "content-type": response.content_type},
                    response.body,
                )
            )
        record(response.status, response.body, answer_problems)
        return response.status, {**response.headers, "Content-Type": response.content_type}, response.body

    def _explain(self, method: str, url: str, operation: Operation | None, problems: list[Violation]) -> str:
        lines = [f"{method} {url} does not conform to specs/openapi.yaml:"]
        lines += [f"  - {p}" for p in problems]
        if operation is not None:
            lines.append(f"The spec expects: {_expectation(self.validator, operation)}")
        return self._redact("\n".join(lines))


def _headers_and_body(request: requests.PreparedRequest) -> tuple[dict[str, str], bytes]:
    headers = {k.lower(): v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()}
    raw: Any = request.body
    if raw is None:
        return headers, b""
    if isinstance(raw, str):
        return headers, raw.encode("utf-8")
    if isinstance(raw, bytes):
        return headers, raw
    if hasattr(raw, "read"):  # a file; responses usually reads it first
        raw = raw.read()
        return headers, raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    return headers, b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in raw)  # a generator


def _expectation(validator: SpecValidator, operation: Operation) -> str:
    """What the spec asks of a request to ``operation``, in one line."""
    op = validator.operation(operation.operation_id)
    text = f"{operation.method} {operation.path_template} ({operation.operation_id}: {op.get('summary', '')})"
    text += ", a token in the Authorization header"
    body = op.get("requestBody")
    if isinstance(body, dict) and "content" in body:
        required = " (required)" if body.get("required") else ""
        text += f' and a body{required} as {" or ".join(body["content"])}, e.g. {{"message": "..."}}'
    return text
