"""The mock Canvas's behaviour: one request in, one response out, no HTTP server involved.

``CanvasService.respond()`` takes an ``ApiRequest`` and returns an ``ApiResponse``. The Starlette
app (``mock/app.py``) and the ``responses`` fake both call it, so every Canvas rule (routing,
authorization order, lifecycle, profiles, throttling) lives here once. The order of the checks
follows ``shared/canvas-facts.md``: token, masquerade, course, feature flag, membership,
experience, conversation, then the action's own rules.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from canvas_ai_harness import rules
from canvas_ai_harness.mock.llm import FakeLLM, Latency, LLMServiceError
from canvas_ai_harness.mock.store import Conversation, ConversationStore, Message
from canvas_ai_harness.mock.throttle import LeakyBuckets, ThrottleConfig
from canvas_ai_harness.mock.world import Course, Experience, User, World, default_world

__all__ = ["ApiRequest", "ApiResponse", "Call", "CanvasService", "MockConfig"]

JSON_TYPE = "application/json; charset=utf-8"
_PREFIX = r"^/api/v1/courses/(?P<course>[^/]+)/ai_experiences/(?P<exp>[^/]+)/conversations"
_ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    (re.compile(_PREFIX + r"(?:\.json)?$"), {"GET": "active", "POST": "create"}),
    (re.compile(_PREFIX + r"/(?P<id>[^/]+?)(?:\.json)?$"), {"GET": "show", "DELETE": "destroy"}),
    (re.compile(_PREFIX + r"/(?P<id>[^/]+)/messages(?:\.json)?$"), {"POST": "post_message"}),
)
_MAX_ID_DIGITS = 19  # a 64-bit id; anything longer cannot exist


@dataclass(slots=True)
class ApiRequest:
    """An HTTP request, reduced to what Canvas looks at. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = "127.0.0.1"


@dataclass(slots=True)
class ApiResponse:
    """What Canvas answers. ``delay`` is the AI service's time, which the HTTP layer waits out."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    throttle_key: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True, frozen=True)
class Call:
    """One request the mock answered, for tests and reports."""

    method: str
    path: str
    status: int
    user_id: int | None


@dataclass(slots=True)
class MockConfig:
    """Everything that shapes the mock's behaviour, with Canvas's defaults."""

    profile: str = "completed"
    llm_latency: Latency = field(default_factory=Latency)
    llm_failure_rate: float = 0.0
    llm_null_id_rate: float = 0.0
    seed: int | None = None
    max_conversations: int = 200_000
    throttle: ThrottleConfig | None = None
    max_body_bytes: int = 1_048_576
    unauthorized_status: int = 403  # older Canvas sites answer non-members 401
    record_calls: int = 10_000  # how many recent calls to keep; 0 keeps none
    faults: frozenset[str] = frozenset()  # tests only: deliberate contract breaks (mock/faults.py)


class _Answer(Exception):
    """Raised inside an action to answer early (an authorization failure, a 400...)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass(slots=True)
class _Context:
    request: ApiRequest
    params: dict[str, Any]
    user: User | None
    course: Course
    experience: Experience
    conversation_ref: str | None


class CanvasService:
    """The mock Canvas, minus HTTP. Thread-safe; one instance serves one world."""

    def __init__(
        self,
        config: MockConfig | None = None,
        world: World | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self.profile = rules.get_profile(self.config.profile)
        self._world_factory = default_world if world is None else (lambda: world)
        # Whole seconds, as Canvas shows them; twice as fast as now(UTC).replace(microsecond=0).
        self._clock = clock or (lambda: datetime.fromtimestamp(int(time.time()), UTC))
        self._daily_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the state at start: a fresh world, no conversations, empty buckets and call log."""
        self.world = self._world_factory()
        self.store = ConversationStore(self.config.max_conversations)
        self.llm = FakeLLM(
            self.config.llm_latency, self.config.llm_failure_rate, self.config.seed, self.config.llm_null_id_rate
        )
        self.buckets = LeakyBuckets(self.config.throttle) if self.config.throttle else None
        self.calls: deque[Call] = deque(maxlen=self.config.record_calls or 0)
        self._daily: dict[tuple[int, str, date], int] = {}

    # -- entry points -------------------------------------------------------------------------
    def respond(self, request: ApiRequest, *, sleep: Callable[[float], None] | None = time.sleep) -> ApiResponse:
        """Answer ``request`` synchronously, waiting out the AI's latency unless ``sleep`` is None."""
        response = self.handle(request)
        if response.delay and sleep is not None:
            sleep(response.delay)
        return self.finish(response)

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Decide the answer to ``request``. Call ``finish()`` on it once any delay has passed."""
        user_id: int | None = None
        throttle_key = None
        try:
            if self.buckets is not None:
                throttle_key = self._throttle_key(request)
                remaining = self.buckets.admit(throttle_key)
                if remaining is None:
                    response = ApiResponse(
                        403,
                        rules.RATE_LIMITED_TEXT.encode(),
                        "text/plain; charset=utf-8",
                        {"X-Rate-Limit-Remaining": "0.0", "X-Request-Cost": "0.0"},
                    )
                    self._record(request, response, None)
                    return response
            response, user_id = self._dispatch(request)
        except _Answer as answer:
            response = self._json(answer.status, answer.body, request, answer.headers)
        except Exception:  # a bug in the mock must still look like Canvas, never a traceback
            response = self._json(500, rules.INTERNAL_ERROR, request)
        response.throttle_key = throttle_key
        self._record(request, response, user_id)
        return response

    def finish(self, response: ApiResponse) -> ApiResponse:
        """Settle the request's throttling cost and add Canvas's cost headers."""
        if self.buckets is not None and response.throttle_key is not None:
            remaining = self.buckets.settle(response.throttle_key)
            response.headers["X-Request-Cost"] = f"{self.buckets.config.cost:.1f}"
            response.headers["X-Rate-Limit-Remaining"] = f"{remaining:.1f}"
            response.throttle_key = None
        return response

    # -- routing and authorization ------------------------------------------------------------
    def _dispatch(self, request: ApiRequest) -> tuple[ApiResponse, int | None]:
        method = "GET" if request.method == "HEAD" else request.method
        action, match = None, None
        for pattern, actions in _ROUTES:
            match = pattern.match(request.path)
            if match is not None:
                action = actions.get(method)
                break
        if action is None or match is None:
            raise _Answer(404, rules.ROUTE_NOT_FOUND)
        params = self._params(request)
        user = self._authenticate(request, params)
        course = self.world.find_course(match["course"])
        if course is None:
            raise _Answer(404, rules.ROUTE_NOT_FOUND)
        if not course.ai_experiences_enabled:
            raise _Answer(404, rules.NOT_FOUND)
        if user is None:
            raise _Answer(401, rules.UNAUTHENTICATED, {"WWW-Authenticate": rules.WWW_AUTHENTICATE})
        if not self.world.is_member(course, user):
            status = self.config.unauthorized_status
            headers = {"WWW-Authenticate": rules.WWW_AUTHENTICATE} if status == 401 else {}
            raise _Answer(status, rules.FORBIDDEN, headers)
        experience = self.world.find_experience(course, match["exp"])
        if experience is None:
            raise _Answer(404, rules.NOT_FOUND)
        ref = match.groupdict().get("id")
        ctx = _Context(request, params, user, course, experience, ref)
        status, body, delay = getattr(self, "_" + action)(ctx)
        response = self._json(status, body, request)
        response.delay = delay
        if request.method == "HEAD":
            response.body = b""
        return response, user.id

    def _throttle_key(self, request: ApiRequest) -> str:
        token = _bearer(request.headers) or dict(parse_qsl(request.query)).get("access_token")
        user = self.world.user_for_token(token) if token else None
        return f"user:{user.id}" if user else f"ip:{request.client}"

    def _params(self, request: ApiRequest) -> dict[str, Any]:
        """Canvas merges query, form and JSON parameters; the body wins over the query."""
        try:
            params: dict[str, Any] = {}
            if request.query:
                params.update(parse_qsl(request.query, keep_blank_values=True, errors="strict"))
            if request.body:
                ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
                text = request.body.decode("utf-8")
                if ctype == "application/json" or ctype.endswith("+json"):
                    data = json.loads(text)
                    if isinstance(data, dict):
                        # A lone surrogate ("\ud800") parses but could never be sent back as UTF-8.
                        # Only a \u escape can make one: the text itself decoded as strict UTF-8.
                        if "\\u" in text:
                            json.dumps(data, ensure_ascii=False).encode("utf-8")
                        params.update(data)
                elif ctype == "application/x-www-form-urlencoded":
                    params.update(parse_qsl(text, keep_blank_values=True, errors="strict"))
        except (UnicodeError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
            raise _Answer(400, rules.MALFORMED_BODY) from None
        return params

    def _authenticate(self, request: ApiRequest, params: dict[str, Any]) -> User | None:
        token = _bearer(request.headers)
        if token is None and isinstance(params.get("access_token"), str):
            token = params["access_token"]
        if token is None:
            return None
        user = self.world.user_for_token(token)
        if user is None:
            raise _Answer(401, rules.INVALID_TOKEN, {"WWW-Authenticate": rules.WWW_AUTHENTICATE})
        as_user = params.get("as_user_id")
        if as_user in (None, "") or str(as_user) == str(user.id):
            return user
        target = _user_by_ref(self.world, str(as_user))
        if not user.can_masquerade or target is None:
            raise _Answer(401, rules.INVALID_AS_USER_ID)
        return target

    def _visible(self, ctx: _Context) -> Conversation:
        """Teachers reach any conversation of the experience; others only their own active ones."""
        ref = ctx.conversation_ref or ""
        conv = None
        if ref.isascii() and ref.isdigit() and len(ref) <= _MAX_ID_DIGITS:
            conv = self.store.get(int(ref))
        assert ctx.user is not None
        if conv is None or conv.experience_id != ctx.experience.id:
            raise _Answer(404, rules.NOT_FOUND)
        if self.world.can_manage(ctx.course, ctx.user):
            return conv
        if conv.user_id != ctx.user.id or not conv.active:
            raise _Answer(404, rules.NOT_FOUND)
        return conv

    # -- actions: each returns (status, body, AI delay in seconds) ----------------------------
    def _active(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self.store.active_for(ctx.user.id, ctx.experience.id)
        if conv is None:
            return 200, {}, 0.0
        delay = self._call_llm()
        return 200, self._conversation_json(conv, ctx.experience, feedback=True), delay

    def _create(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        self._count_daily(ctx.user, "create", self.profile.daily_create_limit)
        now = self._clock()
        self.store.close_active(ctx.user.id, ctx.experience.id, self.profile.closed_state, now)
        delay = self._call_llm()
        llm_id, question = self.llm.start(ctx.experience)
        messages = [
            self.store.new_message("User", ctx.experience.hidden_prompt),
            self.store.new_message("Assistant", question),
        ]
        if llm_id is None:  # Canvas does not save the record, and answers with a null id
            body = {
                "id": None,
                "messages": [self._message_json(m, feedback=False) for m in messages],
                "progress": self._progress(ctx.experience, 0),
            }
            return 201, body, delay
        conv = self.store.add(ctx.user.id, ctx.course.id, ctx.experience.id, llm_id, messages, now)
        return 201, self._conversation_json(conv, ctx.experience, feedback=False), delay

    def _show(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self._visible(ctx)
        if not self.world.can_manage(ctx.course, ctx.user):
            raise _Answer(403, rules.FORBIDDEN)
        delay = self._call_llm()
        body = {
            "id": conv.id,
            "user_id": str(conv.user_id),
            "llm_conversation_id": conv.llm_conversation_id,
            "workflow_state": conv.workflow_state,
            "created_at": _iso(conv.created_at),
            "updated_at": _iso(conv.updated_at),
            "messages": [self._message_json(m, feedback=True) for m in conv.messages],
            "progress": self._progress(ctx.experience, conv.covered),
        }
        if self.profile.name == "ended":
            total = len(ctx.experience.objectives)
            body["all_objectives_met"] = total > 0 and conv.covered >= total
        return 200, body, delay

    def _post_message(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self._visible(ctx)
        text = _message_text(ctx.params.get("message"))
        if text is None:
            raise _Answer(400, rules.BLANK_MESSAGE)
        limit = self.profile.max_message_chars
        if limit is not None and len(text) > limit:
            raise _Answer(422, self.profile.too_long)
        self._count_daily(ctx.user, "post_message", self.profile.daily_message_limit)
        delay = self._call_llm()
        covered = conv.covered
        if FakeLLM.covers(text):
            covered = min(covered + 1, len(ctx.experience.objectives))
        reply = self.llm.reply(ctx.experience, text, covered)
        self.store.append(
            conv,
            [self.store.new_message("User", text), self.store.new_message("Assistant", reply)],
            covered,
            self._clock(),
        )
        return 200, self._conversation_json(conv, ctx.experience, feedback=True), delay

    def _destroy(self, ctx: _Context) -> tuple[int, Any, float]:
        conv = self._visible(ctx)
        self.store.close(conv, self.profile.closed_state, self._clock())
        return 200, {"message": self.profile.destroy_message}, 0.0

    # -- helpers ------------------------------------------------------------------------------
    def _call_llm(self) -> float:
        try:
            return self.llm.call()
        except LLMServiceError as exc:
            raise _Answer(503, rules.service_unavailable(self.profile, self.llm.reference_id(), str(exc))) from None

    def _count_daily(self, user: User, action: str, limit: int | None) -> None:
        if limit is None:
            return
        key = (user.id, action, self._clock().date())
        with self._daily_lock:
            used = self._daily.get(key, 0)
            if used >= limit:
                raise _Answer(429, rules.rate_limited(self.llm.reference_id()))
            self._daily[key] = used + 1

    def _message_json(self, message: Message, *, feedback: bool) -> dict[str, Any]:
        if not self.profile.message_ids:
            return {"role": message.role, "text": message.text}
        body: dict[str, Any] = {"id": message.id, "role": message.role, "text": message.text}
        if feedback:
            body["feedback"] = []
        return body

    @staticmethod
    def _progress(experience: Experience, covered: int) -> dict[str, Any] | None:
        total = len(experience.objectives)
        if total == 0:
            return None
        current = min(covered, total)
        return {
            "current": current,
            "total": total,
            "percentage": rules.percentage(current, total),
            "objectives": [
                {"objective": o, "status": "covered" if i < current else ""}
                for i, o in enumerate(experience.objectives)
            ],
        }

    def _conversation_json(self, conv: Conversation, experience: Experience, *, feedback: bool) -> dict[str, Any]:
        return {
            "id": conv.id,
            "messages": [self._message_json(m, feedback=feedback) for m in conv.messages],
            "progress": self._progress(experience, conv.covered),
        }

    def _json(self, status: int, body: Any, request: ApiRequest, headers: dict[str, str] | None = None) -> ApiResponse:
        if rules.CANVAS_STRING_IDS in request.headers.get("accept", ""):
            body = rules.stringify_ids(body)
        # The same bytes as json.dumps(body, ensure_ascii=False, separators=(",", ":")) for every
        # body the mock builds (str keys, no floats), four times faster: encoding was a third of
        # the service's time on a 10-message transcript.
        payload = orjson.dumps(body)
        return ApiResponse(status, payload, JSON_TYPE, dict(headers or {}))

    def _record(self, request: ApiRequest, response: ApiResponse, user_id: int | None) -> None:
        if self.calls.maxlen:
            self.calls.append(Call(request.method, request.path, response.status, user_id))


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if not auth:
        return None
    scheme, _, token = auth.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _user_by_ref(world: World, ref: str) -> User | None:
    if ref.isascii() and ref.isdigit() and len(ref) <= _MAX_ID_DIGITS:
        return world.users.get(int(ref))
    return None


def _message_text(value: Any) -> str | None:
    """Canvas checks ``message.present?`` and nothing else: numbers are text, blanks are missing."""
    if isinstance(value, bool):
        return "true" if value else None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
