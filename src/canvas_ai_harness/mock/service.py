"""The mock Canvas's behaviour: one request in, one response out, no HTTP server involved.

``CanvasService.respond()`` takes an ``ApiRequest`` and returns an ``ApiResponse``. The Starlette
app (``mock/app.py``) and the ``responses`` fake both call it. The service applies Canvas's
rules from ``canvas/`` (reading requests, routes, lifecycle, profiles) in Canvas's order
(``shared/canvas-facts.md``): token, masquerade, course, feature flag, membership, experience,
conversation, then the action's own rules. ``ServiceHooks`` (``mock/hooks.py``) are its public
extension points; the faithful mock runs their no-op defaults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from canvas_ai_harness.canvas import answers, bodies, courses, lifecycle, routes
from canvas_ai_harness.canvas.requests import MalformedRequest, message_text, parse_id, read_params, request_token
from canvas_ai_harness.mock.api import JSON_TYPE, ApiRequest, ApiResponse, Call, CallLog, MockConfig
from canvas_ai_harness.mock.hooks import Answer, ServiceHooks
from canvas_ai_harness.mock.llm import FakeLLM, LLMServiceError
from canvas_ai_harness.mock.render import Renderer, progress
from canvas_ai_harness.mock.store import Conversation, ConversationStore, Message
from canvas_ai_harness.mock.throttle import LeakyBuckets
from canvas_ai_harness.mock.world import Course, Experience, User, World, default_world

__all__ = ["ApiRequest", "ApiResponse", "Call", "CanvasService", "MockConfig", "ServiceHooks"]

_ACTIONS = {
    routes.ACTIVE: "_active",
    routes.CREATE: "_create",
    routes.SHOW: "_show",
    routes.POST_MESSAGE: "_post_message",
    routes.DESTROY: "_destroy",
}


@dataclass(slots=True)
class _Context:
    request: ApiRequest
    params: dict[str, Any]
    user: User | None
    course: Course
    experience: Experience
    conversation_ref: str | None
    operation_id: str = routes.ACTIVE
    string_ids: bool = False  # Accept: application/json+canvas-string-ids


class CanvasService:
    """The mock Canvas, minus HTTP. Thread-safe; one instance serves one world."""

    def __init__(
        self,
        config: MockConfig | None = None,
        world: World | None = None,
        clock: Callable[[], datetime] | None = None,
        hooks: ServiceHooks | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self.hooks = hooks or ServiceHooks()
        self._world_factory = default_world if world is None else (lambda: world)
        self._clock = clock or _whole_seconds()
        self._daily_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the state at start: a fresh world, no conversations, empty buckets and call log."""
        self.world = self._world_factory()
        course = 101  # --more-students join the default world's course (default_target's course_id)
        wanted = self.config.students if course in self.world.courses else 0
        self.extra_students = tuple(u.token for u in self.world.add_students(course, wanted, "mock-student"))
        self.store = ConversationStore(
            self.config.max_conversations, self.config.max_stored_bytes, self.config.max_transcript_bytes
        )
        self.llm = FakeLLM(
            self.config.llm_latency, self.config.llm_failure_rate, self.config.seed, self.config.llm_null_id_rate
        )
        self.buckets = LeakyBuckets(self.config.throttle) if self.config.throttle else None
        self.calls = CallLog(self.config.record_calls)
        self._daily: dict[tuple[int, str, date], int] = {}
        self.profile = answers.get_profile(self.config.profile)
        self.render = Renderer(self.profile, self.hooks)
        self.hooks.reset(self)

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
                        bodies.RATE_LIMITED_TEXT.encode(),
                        "text/plain; charset=utf-8",
                        {"X-Rate-Limit-Remaining": "0.0", "X-Request-Cost": "0.0"},
                    )
                    self._record(request, response, None)
                    return response
            response, user_id = self._dispatch(request)
        except Answer as answer:
            response = self._json(answer.status, answer.body, request, answer.headers)
        except Exception:  # a bug in the mock must still look like Canvas, never a traceback
            response = self._json(500, bodies.INTERNAL_ERROR, request)
        self.hooks.response(request, response)
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
        request = self.hooks.request(self, request)
        route = routes.match(request.method, request.path)
        if route is None:
            course_ref = courses.match(request.method, request.path)
            if course_ref is None:
                raise Answer(404, bodies.ROUTE_NOT_FOUND)
            return self._course(request, course_ref)
        params = self._params(request)
        user = self._authenticate(request, params)
        course = self.world.find_course(route.course)
        if course is None:
            raise Answer(404, bodies.ROUTE_NOT_FOUND)
        if not course.ai_experiences_enabled:
            raise Answer(404, bodies.NOT_FOUND)
        if user is None:
            raise Answer(401, bodies.UNAUTHENTICATED, {"WWW-Authenticate": bodies.WWW_AUTHENTICATE})
        self._require_member(course, user)
        experience = self.world.find_experience(course, route.experience)
        if experience is None:
            raise Answer(404, bodies.NOT_FOUND)
        string_ids = bodies.CANVAS_STRING_IDS in request.headers.get("accept", "")
        ctx = _Context(request, params, user, course, experience, route.conversation, route.operation_id, string_ids)
        status, body, delay = getattr(self, _ACTIONS[route.operation_id])(ctx)
        if isinstance(body, bytes):  # encoded by the renderer, string ids and all: no hook changes it
            response = ApiResponse(status, body)
        else:
            status, body = self.hooks.answered(self, route.operation_id, user, experience, status, body)
            response = self._json(status, body, request)
        response.delay = delay
        if request.method == "HEAD":
            response.body = b""
        return response, user.id

    def _course(self, request: ApiRequest, ref: str) -> tuple[ApiResponse, int | None]:
        """``GET /api/v1/courses/:id`` (canvas/courses.py): the caller's own enrolments in the course."""
        user = self._authenticate(request, self._params(request))
        course = self.world.find_course(ref)
        if course is None:
            raise Answer(404, bodies.ROUTE_NOT_FOUND)
        if user is None:
            raise Answer(401, bodies.UNAUTHENTICATED, {"WWW-Authenticate": bodies.WWW_AUTHENTICATE})
        self._require_member(course, user)
        role = self.world.role(course, user)
        body = courses.course_body(course.id, course.name, [(role, user.id)] if role else [])
        response = self._json(200, body, request)
        if request.method == "HEAD":
            response.body = b""
        return response, user.id

    def _require_member(self, course: Course, user: User) -> None:
        if not self.world.is_member(course, user):
            status = self.config.unauthorized_status
            headers = {"WWW-Authenticate": bodies.WWW_AUTHENTICATE} if status == 401 else {}
            raise Answer(status, bodies.FORBIDDEN, headers)

    def _throttle_key(self, request: ApiRequest) -> str:
        token = request_token(request.headers, dict(parse_qsl(request.query)))
        user = self.world.user_for_token(token) if token else None
        return f"user:{user.id}" if user else f"ip:{request.client}"

    def _params(self, request: ApiRequest) -> dict[str, Any]:
        try:
            return read_params(request.query, request.headers.get("content-type"), request.body)
        except MalformedRequest:
            raise Answer(400, bodies.MALFORMED_BODY) from None

    def _authenticate(self, request: ApiRequest, params: dict[str, Any]) -> User | None:
        token = request_token(request.headers, params)
        if token is None:
            return None
        user = self.world.user_for_token(token)
        if user is None:
            raise Answer(401, bodies.INVALID_TOKEN, {"WWW-Authenticate": bodies.WWW_AUTHENTICATE})
        as_user = params.get("as_user_id")
        if as_user in (None, "") or str(as_user) == str(user.id):
            return user
        target = _user_by_ref(self.world, str(as_user))
        if not user.can_masquerade or target is None:
            raise Answer(401, bodies.INVALID_AS_USER_ID)
        return target

    def _visible(self, ctx: _Context) -> Conversation:
        """The conversation show, post_message or destroy asks for, if the caller may have it."""
        cid = parse_id(ctx.conversation_ref or "")
        conv = self.store.get(cid) if cid is not None else None
        assert ctx.user is not None
        if conv is None:
            raise Answer(404, bodies.NOT_FOUND)
        refused = lifecycle.refusal(
            ctx.operation_id,
            same_experience=conv.experience_id == ctx.experience.id,
            manager=self.world.can_manage(ctx.course, ctx.user),
            own=conv.user_id == ctx.user.id,
            active=conv.active,
        )
        if refused is not None:
            refused = self.hooks.reach(ctx.operation_id, conv, ctx.user, refused)
        if refused is not None:
            raise Answer(refused.status, refused.body)
        return conv

    # -- actions: each returns (status, body, AI delay in seconds) ----------------------------
    def _active(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self.store.active_for(ctx.user.id, ctx.experience.id)
        if conv is None:
            return 200, {}, 0.0
        delay = self._call_llm()
        return 200, self._conversation(conv, ctx, feedback=True), delay

    def _create(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        self._count_daily(ctx.user, "create", self.profile.daily_create_limit)
        now = self._clock()
        previous = self.store.active_for(ctx.user.id, ctx.experience.id)
        if previous is not None and self.hooks.closes(previous, lifecycle.CLOSED_BY_CREATE):
            self.store.close(previous, self.profile.closed_state, now)  # before the AI call: a 503 closed it too
        delay = self._call_llm()
        llm_id, question = self.llm.start(ctx.experience)
        messages = [
            self.store.new_message("User", ctx.experience.hidden_prompt),
            self.store.new_message("Assistant", question),
        ]
        if llm_id is None:  # Canvas does not save the record, and answers with a null id
            body = {
                "id": None,
                "messages": [self.message_json(m, feedback=False) for m in messages],
                "progress": progress(ctx.experience, 0),
            }
            return 201, body, delay
        conv = self.store.add(ctx.user.id, ctx.course.id, ctx.experience.id, llm_id, messages, now)
        return 201, self._conversation(conv, ctx, feedback=False), delay

    def _show(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self._visible(ctx)
        delay = self._call_llm()
        body = {
            "id": conv.id,
            "user_id": str(conv.user_id),
            "llm_conversation_id": conv.llm_conversation_id,
            "workflow_state": conv.workflow_state,
            "created_at": _iso(conv.created_at),
            "updated_at": _iso(conv.updated_at),
            "messages": [self.message_json(m, feedback=True) for m in conv.messages],
            "progress": progress(ctx.experience, conv.covered),
        }
        if self.profile.show_objectives_met:
            total = len(ctx.experience.objectives)
            body["all_objectives_met"] = total > 0 and conv.covered >= total
        return 200, body, delay

    def _post_message(self, ctx: _Context) -> tuple[int, Any, float]:
        assert ctx.user is not None
        conv = self._visible(ctx)
        text = message_text(self.hooks.message(ctx.params.get("message")))
        if text is None:
            raise Answer(400, bodies.BLANK_MESSAGE)
        limit = self.profile.max_message_chars
        if limit is not None and len(text) > limit:
            raise Answer(422, self.profile.too_long)
        self._count_daily(ctx.user, "post_message", self.profile.daily_message_limit)
        delay = self._call_llm()
        covered = conv.covered
        words = FakeLLM.words(text)
        if FakeLLM.covers(text, words):
            covered = min(covered + 1, len(ctx.experience.objectives))
        reply = self.llm.reply(ctx.experience, text, covered, words)
        turn = self.hooks.turn([self.store.new_message("User", text), self.store.new_message("Assistant", reply)])
        if not self.store.append_if_fits(conv, turn, covered, self._clock()):
            raise Answer(413, bodies.PAYLOAD_TOO_LARGE)  # the mock's own budget (--max-transcript-bytes), not Canvas's
        return 200, self._conversation(conv, ctx, feedback=True), delay

    def _destroy(self, ctx: _Context) -> tuple[int, Any, float]:
        conv = self._visible(ctx)
        if self.hooks.closes(conv, lifecycle.CLOSED_BY_DESTROY):
            self.store.close(conv, self.profile.closed_state, self._clock())
        return 200, {"message": self.profile.destroy_message}, 0.0

    # -- helpers ------------------------------------------------------------------------------
    def _call_llm(self) -> float:
        try:
            return self.llm.call()
        except LLMServiceError as exc:
            raise Answer(503, answers.service_unavailable(self.profile, self.llm.reference_id(), str(exc))) from None

    def _count_daily(self, user: User, action: str, limit: int | None) -> None:
        if limit is None:
            return
        key = (user.id, action, self._clock().date())
        with self._daily_lock:
            used = self._daily.get(key, 0)
            if used >= limit:
                raise Answer(429, answers.rate_limited(self.llm.reference_id()))
            self._daily[key] = used + 1

    def message_json(self, message: Message, *, feedback: bool) -> dict[str, Any]:
        """One message as Canvas shows it in this profile."""
        return self.render.message_json(message, feedback=feedback)

    def conversation_json(self, conv: Conversation, experience: Experience, *, feedback: bool) -> dict[str, Any]:
        """``{id, messages, progress}``: what create, active and post_message answer."""
        return self.render.conversation_json(conv, experience, feedback=feedback)

    def _conversation(self, conv: Conversation, ctx: _Context, *, feedback: bool) -> dict[str, Any] | bytes:
        """The conversation's body: straight to bytes when no hook may change it (the faithful mock)."""
        if self.render.plain:
            return self.render.conversation_bytes(conv, ctx.experience, feedback=feedback, string_ids=ctx.string_ids)
        return self.render.conversation_json(conv, ctx.experience, feedback=feedback)

    def _json(self, status: int, body: Any, request: ApiRequest, headers: dict[str, str] | None = None) -> ApiResponse:
        if bodies.CANVAS_STRING_IDS in request.headers.get("accept", ""):
            body = bodies.stringify_ids(body)
        # The same bytes as json.dumps(body, ensure_ascii=False, separators=(",", ":")) for every
        # body the mock builds (str keys, no floats), four times faster: encoding was a third of
        # the service's time on a 10-message transcript.
        payload = orjson.dumps(body)
        return ApiResponse(status, payload, JSON_TYPE, dict(headers or {}))

    def _record(self, request: ApiRequest, response: ApiResponse, user_id: int | None) -> None:
        if self.calls.maxlen:
            self.calls.record(request.method, request.path, response.status, user_id)


def _user_by_ref(world: World, ref: str) -> User | None:
    uid = parse_id(ref)
    return None if uid is None else world.users.get(uid)


def _whole_seconds() -> Callable[[], datetime]:
    """A clock in whole seconds, as Canvas shows them: one datetime per second, not per call."""
    cached = (0, datetime.fromtimestamp(0, UTC))

    def now() -> datetime:
        nonlocal cached
        second, moment = cached  # one tuple, swapped whole: safe under threads
        if second != int(time.time()):
            second = int(time.time())
            moment = datetime.fromtimestamp(second, UTC)
            cached = (second, moment)
        return moment

    return now


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
