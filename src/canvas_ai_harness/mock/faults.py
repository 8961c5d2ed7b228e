"""Deliberate breaks of the mock Canvas, for proving that the contract suite notices them.

Each fault is something a Canvas upgrade could plausibly bring: a changed status code, a body
shape, a leaked field, a lifecycle rule, the transcript, authorization between identities, input
handling, string ids or SIS ids. ``FaultyCanvasService`` is a ``CanvasService`` that applies the
faults it is given; ``service.py`` itself knows nothing of them. Faults are for tests only: the
``mock`` command hides its ``--fault`` option.

``FAULTS`` maps each name to a ``Fault``: what breaks, and the contract check that must report
it (the name a contract run's report gives; ``tests/test_contract_faults.py`` holds the suite to
it). A fault with a ``profile`` only makes sense in that profile.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from canvas_ai_harness import rules
from canvas_ai_harness.mock.service import (
    ApiRequest,
    ApiResponse,
    CanvasService,
    MockConfig,
    _Answer,
    _Context,
)
from canvas_ai_harness.mock.store import Conversation, ConversationStore, Message
from canvas_ai_harness.mock.world import Experience, World

__all__ = ["FAULTS", "Fault", "FaultyCanvasService", "make_service"]


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
}

_PATH_REFS = re.compile(r"^/api/v1/courses/(?P<course>[^/]+)/ai_experiences/(?P<exp>[^/]+)/")
_TRUNCATE_AT = 2000


def make_service(config: MockConfig) -> CanvasService:
    """The faithful ``CanvasService``, or a ``FaultyCanvasService`` when ``config.faults`` names any."""
    return FaultyCanvasService(config) if config.faults else CanvasService(config)


class _Store(ConversationStore):
    """A store that can forget to close, or drop the user's half of a turn."""

    def __init__(self, max_conversations: int, faults: frozenset[str]) -> None:
        self.faults = faults
        super().__init__(max_conversations)

    def close_active(self, user_id: int, experience_id: int, state: str, now: datetime) -> Conversation | None:
        if "create-keeps-previous-active" in self.faults:
            return None
        return super().close_active(user_id, experience_id, state, now)

    def append(self, conversation: Conversation, messages: list[Message], covered: int, now: datetime) -> None:
        if "post-appends-reply-only" in self.faults:
            messages = [m for m in messages if m.role != "User"]
        super().append(conversation, messages, covered, now)


class FaultyCanvasService(CanvasService):
    """A ``CanvasService`` that breaks the contract in the ways ``config.faults`` names."""

    def __init__(self, config: MockConfig | None = None, world: World | None = None, **kwargs: Any) -> None:
        config = config or MockConfig()
        unknown = sorted(set(config.faults) - FAULTS.keys())
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
        self.faults = frozenset(config.faults)
        super().__init__(config, world, **kwargs)
        if "closed-state-swapped" in self.faults:
            other = "ended" if self.profile.closed_state == "completed" else "completed"
            self.profile = dataclasses.replace(self.profile, closed_state=other)
        if "no-length-limit" in self.faults:
            self.profile = dataclasses.replace(self.profile, max_message_chars=None)

    def reset(self) -> None:
        super().reset()
        self.store = _Store(self.config.max_conversations, self.faults)
        for course in self.world.courses.values():
            if "feature-flag-ignored" in self.faults:
                course.ai_experiences_enabled = True
        for experience in self.world.experiences.values():
            if "deleted-experience-visible" in self.faults:
                experience.deleted = False

    # -- requests as a whole ------------------------------------------------------------------
    def handle(self, request: ApiRequest) -> ApiResponse:
        response = super().handle(request)
        if "no-www-authenticate" in self.faults:
            response.headers.pop("WWW-Authenticate", None)
        if "destroy-returns-204" in self.faults and request.method == "DELETE" and response.status == 200:
            response.status, response.body = 204, b""
        if "token-in-auth-errors" in self.faults and response.status in (401, 403):
            self._echo_token(request, response)
        return response

    @staticmethod
    def _echo_token(request: ApiRequest, response: ApiResponse) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            body = json.loads(response.body)
        except ValueError:
            return
        if isinstance(body, dict) and scheme.lower() == "bearer":
            body["token"] = token.strip()
            response.body = json.dumps(body).encode()

    def _dispatch(self, request: ApiRequest) -> tuple[ApiResponse, int | None]:
        refs = _PATH_REFS.match(request.path)
        if refs is not None:
            if "sis-course-404" in self.faults and refs["course"].startswith("sis_course_id:"):
                raise _Answer(404, rules.ROUTE_NOT_FOUND)
            if "unpublished-refused" in self.faults and refs["exp"].isdigit():
                experience = self.world.experiences.get(int(refs["exp"]))
                if experience is not None and not experience.published:
                    raise _Answer(404, rules.NOT_FOUND)
            if "outsider-gets-404" in self.faults:
                self._refuse_outsider(request, refs["course"])
        return super()._dispatch(request)

    def _refuse_outsider(self, request: ApiRequest, course_ref: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = self.world.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        course = self.world.find_course(course_ref)
        if user is not None and course is not None and not self.world.is_member(course, user):
            raise _Answer(404, rules.NOT_FOUND)

    def _params(self, request: ApiRequest) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if "form-message-dropped" in self.faults and ctype == "application/x-www-form-urlencoded":
            request = dataclasses.replace(request, body=b"")
        return super()._params(request)

    def _visible(self, ctx: _Context) -> Conversation:
        try:
            return super()._visible(ctx)
        except _Answer:
            ref = ctx.conversation_ref or ""
            conv = self.store.get(int(ref)) if ref.isdigit() and len(ref) < 19 else None
            if conv is not None and ctx.user is not None and conv.experience_id == ctx.experience.id:
                if "closed-conversation-writable" in self.faults and conv.user_id == ctx.user.id:
                    return conv
                if "other-student-visible" in self.faults and conv.active:
                    return conv
            raise

    # -- actions ------------------------------------------------------------------------------
    def _active(self, ctx: _Context) -> tuple[int, Any, float]:
        status, body, delay = super()._active(ctx)
        if "active-returns-completed" in self.faults and body == {} and ctx.user is not None:
            mine = [
                c for c in self.store.snapshot() if c.user_id == ctx.user.id and c.experience_id == ctx.experience.id
            ]
            if mine:
                body = self._conversation_json(mine[-1], ctx.experience, feedback=True)
        return status, body, delay

    def _create(self, ctx: _Context) -> tuple[int, Any, float]:
        status, body, delay = super()._create(ctx)
        if "create-returns-200" in self.faults and status == 201:
            status = 200
        if "llm-id-in-create" in self.faults:
            self._leak_llm_id(body)
        return status, body, delay

    def _show(self, ctx: _Context) -> tuple[int, Any, float]:
        student = ctx.user is not None and not self.world.can_manage(ctx.course, ctx.user)
        if "show-allowed-to-students" in self.faults and student:
            self._visible(ctx)  # their own active conversation passes, anything else stays 404
            ctx.user = next(u for u in self.world.users.values() if self.world.can_manage(ctx.course, u))
        status, body, delay = super()._show(ctx)
        if "show-user-id-integer" in self.faults:
            body["user_id"] = int(body["user_id"])
        return status, body, delay

    def _post_message(self, ctx: _Context) -> tuple[int, Any, float]:
        message = ctx.params.get("message")
        if isinstance(message, str):
            ctx.params["message"] = self._mangle(message)
        elif isinstance(message, list) and "message-list-accepted" in self.faults:
            ctx.params["message"] = " ".join(map(str, message))
        status, body, delay = super()._post_message(ctx)
        if "empty-assistant-reply" in self.faults:
            conv = self.store.get(body["id"])
            assert conv is not None
            conv.messages[-1].text = ""
            body = self._conversation_json(conv, ctx.experience, feedback=True)
        if "post-rewrites-history" in self.faults:
            for message_json in body["messages"][:-2]:
                message_json["text"] = " ".join(message_json["text"].split())
        if "llm-id-in-post" in self.faults:
            self._leak_llm_id(body)
        return status, body, delay

    def _destroy(self, ctx: _Context) -> tuple[int, Any, float]:
        if "destroy-keeps-active" in self.faults:
            self._visible(ctx)
            return 200, {"message": self.profile.destroy_message}, 0.0
        return super()._destroy(ctx)

    # -- serialisation ------------------------------------------------------------------------
    def _message_json(self, message: Message, *, feedback: bool) -> dict[str, Any]:
        body = super()._message_json(message, feedback=feedback)
        if "role-lowercase" in self.faults:
            body["role"] = body["role"].lower()
        return body

    def _conversation_json(self, conv: Conversation, experience: Experience, *, feedback: bool) -> dict[str, Any]:
        body = super()._conversation_json(conv, experience, feedback=feedback)
        if "progress-missing" in self.faults:
            del body["progress"]
        elif "percentage-stale" in self.faults and body["progress"] is not None:
            body["progress"]["percentage"] = 0
        return body

    def _json(self, status: int, body: Any, request: ApiRequest, headers: dict[str, str] | None = None) -> ApiResponse:
        if "string-ids-ignored" in self.faults:
            plain = {k: v for k, v in request.headers.items() if k.lower() != "accept"}
            request = dataclasses.replace(request, headers=plain)
        return super()._json(status, body, request, headers)

    # -- helpers ------------------------------------------------------------------------------
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

    def _leak_llm_id(self, body: Any) -> None:
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            conv = self.store.get(body["id"])
            if conv is not None:
                body["llm_conversation_id"] = conv.llm_conversation_id
