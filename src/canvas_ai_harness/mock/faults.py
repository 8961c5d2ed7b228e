"""Deliberate breaks of the mock Canvas, for proving that the contract suite notices them.

Each fault is something a Canvas upgrade could plausibly bring: a changed status code, a body
shape, a leaked field, a lifecycle rule, the transcript, authorization between identities, input
handling, string ids or SIS ids. ``FaultHooks`` applies the faults it is given through the
service's public extension points (``mock/hooks.py``); ``service.py`` knows nothing of them, and
the faithful mock never imports this module (``faulty_service`` is built only when a test or
``--fault`` asks). Faults are for tests only: the ``mock`` command hides its ``--fault`` option.

``FAULTS`` maps each name to a ``Fault``: what breaks, and the contract check that must report
it (the name a contract run's report gives; ``tests/test_contract_faults.py`` holds the suite to
it). A fault with a ``profile`` only makes sense in that profile.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from canvas_ai_harness.canvas import answers, bodies, lifecycle, routes
from canvas_ai_harness.canvas.requests import bearer_token, media_type, parse_id, sis_course_id
from canvas_ai_harness.mock.hooks import Answer, ServiceHooks
from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, CanvasService, MockConfig
from canvas_ai_harness.mock.store import Conversation, Message
from canvas_ai_harness.mock.world import Experience, User, World

__all__ = ["FAULTS", "Fault", "FaultHooks", "faulty_service"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way the mock can break the contract."""

    category: str
    description: str
    detected_by: str  # the contract check that must report it
    profile: str | None = None  # None: either profile


FAULTS: Final[dict[str, Fault]] = {
    # status codes
    "create-returns-200": Fault("status code", "create answers 200 instead of 201", "create-answers-201"),
    "destroy-returns-204": Fault(
        "status code", "destroy answers 204 with no body instead of 200 and its message", "status-code-declared"
    ),
    # body shapes
    "progress-missing": Fault("body shape", "conversations lack the 'progress' key", "body-matches-schema"),
    "role-lowercase": Fault("body shape", "message roles are 'user'/'assistant'", "body-matches-schema"),
    "show-user-id-integer": Fault("body shape", "show's user_id is an integer, not a string", "body-matches-schema"),
    "percentage-stale": Fault(
        "body shape", "progress.percentage stays 0 as objectives are covered", "progress-consistent"
    ),
    # leaked fields
    "llm-id-in-create": Fault("leaked field", "create returns llm_conversation_id", "llm-id-not-leaked"),
    "llm-id-in-post": Fault("leaked field", "post_message returns llm_conversation_id", "llm-id-not-leaked"),
    "token-in-auth-errors": Fault(
        "leaked field", "401 and 403 error bodies echo the caller's token", "body-matches-schema"
    ),
    # lifecycle
    "create-keeps-previous-active": Fault(
        "lifecycle", "create leaves the caller's previous conversation active", "create-closes-previous"
    ),
    "destroy-keeps-active": Fault(
        "lifecycle", "destroy answers 200 but leaves the conversation active", "destroy-closes"
    ),
    "active-returns-completed": Fault(
        "lifecycle", "active_conversation returns the caller's last, completed conversation", "active-empty-after-end"
    ),
    "closed-conversation-writable": Fault(
        "lifecycle", "a student may still post to their own completed conversation", "closed-conversation-404"
    ),
    "closed-state-swapped": Fault(
        "lifecycle", "closed conversations take the other profile's state name", "profile-closed-state"
    ),
    # transcript
    "post-appends-reply-only": Fault(
        "transcript", "post_message stores only the assistant's reply", "transcript-appends-user-and-assistant"
    ),
    "post-rewrites-history": Fault(
        "transcript", "post_message returns earlier messages with whitespace collapsed", "earlier-messages-unchanged"
    ),
    "user-text-trimmed": Fault("transcript", "the user's text is stored stripped", "user-text-unchanged"),
    "user-text-nfc": Fault("transcript", "the user's text is stored NFC-normalised", "user-text-unchanged"),
    "empty-assistant-reply": Fault("transcript", "the assistant's reply is empty", "assistant-text-non-empty"),
    # authorization
    "other-student-visible": Fault(
        "authorization", "another student's active conversation is reachable", "another-students-conversation-404"
    ),
    "show-allowed-to-students": Fault(
        "authorization", "show answers 200 to a student for their own conversation", "show-by-student-403"
    ),
    "outsider-gets-404": Fault("authorization", "a non-member gets 404 instead of 403", "outsider-403"),
    "no-www-authenticate": Fault("authorization", "401 answers lack WWW-Authenticate", "no-token-401"),
    "feature-flag-ignored": Fault(
        "authorization", "courses with ai_experiences off serve conversations", "feature-flag-off-404"
    ),
    "deleted-experience-visible": Fault(
        "authorization", "deleted experiences serve conversations", "deleted-experience-404"
    ),
    "unpublished-refused": Fault(
        "authorization", "unpublished experiences answer 404", "unpublished-experience-allowed"
    ),
    # input handling
    "whitespace-message-accepted": Fault("input", "a whitespace-only message is accepted", "blank-message-400"),
    "unicode-mangled": Fault(
        "input", "non-ASCII text is stored as mojibake (UTF-8 read as Latin-1)", "user-text-unchanged"
    ),
    "long-message-truncated": Fault("input", "messages are truncated to 2000 characters", "user-text-unchanged"),
    "message-list-accepted": Fault(
        "input", "a JSON list as message is joined into text and accepted", "negative-data-rejected"
    ),
    "form-message-dropped": Fault("input", "a form-encoded message is ignored (400)", "non-blank-message-accepted"),
    "no-length-limit": Fault(
        "input", "messages over 4000 characters are accepted", "profile-message-limit", profile="ended"
    ),
    # ids
    "string-ids-ignored": Fault(
        "ids", "Accept: application/json+canvas-string-ids is ignored", "string-ids-on-request"
    ),
    "sis-course-404": Fault("ids", "sis_course_id: course references answer 404", "sis-course-id-same-course"),
    # Canvas-wide conventions the spec leaves out
    "access-token-ignored": Fault(
        "conventions",
        "an access_token query or form parameter is ignored (only the header counts)",
        "access-token-parameter",
    ),
    "json-suffix-404": Fault("conventions", "a trailing .json on the path is a routing 404", "trailing-json-accepted"),
    "masquerade-ignored": Fault(
        "conventions", "as_user_id is ignored: a masquerading admin acts as itself", "masquerade-acts-as-user"
    ),
    "bad-as-user-id-ignored": Fault(
        "conventions", "an as_user_id naming no user is ignored instead of refused", "invalid-as-user-id-401"
    ),
}

_TRUNCATE_AT = 2000


def faulty_service(config: MockConfig, world: World | None = None, **kwargs: Any) -> CanvasService:
    """A ``CanvasService`` that breaks the contract in the ways ``config.faults`` names."""
    return CanvasService(config, world, hooks=FaultHooks(config.faults), **kwargs)


class FaultHooks(ServiceHooks):
    """The service's extension points, bent the ways ``faults`` names."""

    def __init__(self, faults: frozenset[str]) -> None:
        unknown = sorted(set(faults) - FAULTS.keys())
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
        self.faults = frozenset(faults)

    def reset(self, service: CanvasService) -> None:
        profile = answers.get_profile(service.config.profile)
        if "closed-state-swapped" in self.faults:
            other = next(p.closed_state for p in answers.PROFILES.values() if p.closed_state != profile.closed_state)
            profile = dataclasses.replace(profile, closed_state=other)
        if "no-length-limit" in self.faults:
            profile = dataclasses.replace(profile, max_message_chars=None)
        service.profile = profile
        for course in service.world.courses.values():
            if "feature-flag-ignored" in self.faults:
                course.ai_experiences_enabled = True
        for experience in service.world.experiences.values():
            if "deleted-experience-visible" in self.faults:
                experience.deleted = False

    # -- requests as a whole ------------------------------------------------------------------
    def request(self, service: CanvasService, request: ApiRequest) -> ApiRequest:
        route = routes.match(request.method, request.path)
        if route is not None:
            if "sis-course-404" in self.faults and sis_course_id(route.course) is not None:
                raise Answer(404, bodies.ROUTE_NOT_FOUND)
            if "unpublished-refused" in self.faults:
                eid = parse_id(route.experience)
                experience = service.world.experiences.get(eid) if eid is not None else None
                if experience is not None and not experience.published:
                    raise Answer(404, bodies.NOT_FOUND)
            if "outsider-gets-404" in self.faults:
                self._refuse_outsider(service.world, request, route.course)
        request = self._conventions(service.world, request)
        media = media_type(request.headers.get("content-type"))
        if "form-message-dropped" in self.faults and media == "application/x-www-form-urlencoded":
            request = dataclasses.replace(request, body=b"")
        if "string-ids-ignored" in self.faults:
            plain = {k: v for k, v in request.headers.items() if k.lower() != "accept"}
            request = dataclasses.replace(request, headers=plain)
        return request

    def _conventions(self, world: World, request: ApiRequest) -> ApiRequest:
        if "json-suffix-404" in self.faults and request.path.endswith(".json"):
            raise Answer(404, bodies.ROUTE_NOT_FOUND)
        if "access-token-ignored" in self.faults:
            request = _without_param(request, "access_token", lambda _: True)
        if "masquerade-ignored" in self.faults:
            request = _without_param(request, "as_user_id", lambda _: True)
        if "bad-as-user-id-ignored" in self.faults:
            request = _without_param(request, "as_user_id", lambda ref: _user_by_ref(world, ref) is None)
        return request

    @staticmethod
    def _refuse_outsider(world: World, request: ApiRequest, course_ref: str) -> None:
        token = bearer_token(request.headers)
        user = world.user_for_token(token) if token else None
        course = world.find_course(course_ref)
        if user is not None and course is not None and not world.is_member(course, user):
            raise Answer(404, bodies.NOT_FOUND)

    def response(self, request: ApiRequest, response: ApiResponse) -> None:
        if "no-www-authenticate" in self.faults:
            response.headers.pop("WWW-Authenticate", None)
        if "destroy-returns-204" in self.faults and request.method == "DELETE" and response.status == 200:
            response.status, response.body = 204, b""
        if "token-in-auth-errors" in self.faults and response.status in (401, 403):
            self._echo_token(request, response)

    @staticmethod
    def _echo_token(request: ApiRequest, response: ApiResponse) -> None:
        token = bearer_token(request.headers)
        try:
            body = json.loads(response.body)
        except ValueError:
            return
        if isinstance(body, dict) and token is not None:
            body["token"] = token
            response.body = json.dumps(body).encode()

    # -- who may reach what, and what closes --------------------------------------------------
    def reach(
        self, operation_id: str, conversation: Conversation, user: User, refused: lifecycle.Refusal
    ) -> lifecycle.Refusal | None:
        own = conversation.user_id == user.id
        if refused.reason == "not-reachable":
            if "closed-conversation-writable" in self.faults and own:
                return self._as_own_active(operation_id)
            if "other-student-visible" in self.faults and conversation.active:
                return self._as_own_active(operation_id)
        if refused.reason == "show-by-student" and "show-allowed-to-students" in self.faults:
            return None
        return refused

    @staticmethod
    def _as_own_active(operation_id: str) -> lifecycle.Refusal | None:
        return lifecycle.refusal(operation_id, same_experience=True, manager=False, own=True, active=True)

    def closes(self, conversation: Conversation, cause: str) -> bool:
        if cause == lifecycle.CLOSED_BY_CREATE:
            return "create-keeps-previous-active" not in self.faults
        return "destroy-keeps-active" not in self.faults

    # -- input and transcript -----------------------------------------------------------------
    def message(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._mangle(value)
        if isinstance(value, list) and "message-list-accepted" in self.faults:
            return " ".join(map(str, value))
        return value

    def _mangle(self, text: str) -> str:
        if "whitespace-message-accepted" in self.faults and text and not text.strip():
            return text + "."
        if "user-text-trimmed" in self.faults and text.strip():
            text = text.strip()
        if "user-text-nfc" in self.faults:
            text = unicodedata.normalize("NFC", text)
        if "unicode-mangled" in self.faults:
            text = text.encode("utf-8").decode("latin-1")
        if "long-message-truncated" in self.faults:
            text = text[:_TRUNCATE_AT]
        return text

    def turn(self, messages: list[Message]) -> list[Message]:
        if "post-appends-reply-only" in self.faults:
            messages = [m for m in messages if m.role != "User"]
        if "empty-assistant-reply" in self.faults:
            messages = [m._replace(text="") if m.role == "Assistant" else m for m in messages]
        return messages

    # -- answers ------------------------------------------------------------------------------
    def answered(
        self, service: CanvasService, operation_id: str, user: User, experience: Experience, status: int, body: Any
    ) -> tuple[int, Any]:
        if operation_id == routes.ACTIVE and "active-returns-completed" in self.faults and body == {}:
            mine = [c for c in service.store.snapshot() if c.user_id == user.id and c.experience_id == experience.id]
            if mine:
                body = service.conversation_json(mine[-1], experience, feedback=True)
        if operation_id == routes.CREATE and "create-returns-200" in self.faults and status == 201:
            status = 200
        if operation_id == routes.SHOW and "show-user-id-integer" in self.faults:
            body["user_id"] = int(body["user_id"])
        if operation_id == routes.POST_MESSAGE and "post-rewrites-history" in self.faults:
            for message_json in body["messages"][:-2]:
                message_json["text"] = " ".join(message_json["text"].split())
        leak = {routes.CREATE: "llm-id-in-create", routes.POST_MESSAGE: "llm-id-in-post"}.get(operation_id)
        if leak in self.faults and isinstance(body, dict) and isinstance(body.get("id"), int):
            conv = service.store.get(body["id"])
            if conv is not None:
                body["llm_conversation_id"] = conv.llm_conversation_id
        return status, body

    def message_body(self, body: dict[str, Any]) -> dict[str, Any]:
        if "role-lowercase" in self.faults:
            body["role"] = body["role"].lower()
        return body

    def conversation_body(self, body: dict[str, Any]) -> dict[str, Any]:
        if "progress-missing" in self.faults:
            del body["progress"]
        elif "percentage-stale" in self.faults and body["progress"] is not None:
            body["progress"]["percentage"] = 0
        return body


def _user_by_ref(world: World, ref: str) -> User | None:
    uid = parse_id(ref)
    return None if uid is None else world.users.get(uid)


def _without_param(request: ApiRequest, name: str, drop: Callable[[str], bool]) -> ApiRequest:
    """``request`` without the parameter ``name`` (query or form body) where ``drop(value)``."""

    def kept(encoded: str) -> str:
        pairs = parse_qsl(encoded, keep_blank_values=True)
        return urlencode([(k, v) for k, v in pairs if not (k == name and drop(v))])

    body = request.body
    if media_type(request.headers.get("content-type")) == "application/x-www-form-urlencoded" and body:
        body = kept(body.decode("utf-8", "replace")).encode()
    return dataclasses.replace(request, query=kept(request.query), body=body)
