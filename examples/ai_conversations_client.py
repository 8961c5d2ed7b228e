"""A small client for Canvas's AI Conversations API, built on ``requests``.

An example of a client that copes with everything Canvas answers on these five routes::

    client = AIConversationsClient("https://canvas.example.edu", token, course_id=101, ai_experience_id=7)
    conversation = client.active() or client.create()
    conversation = client.send(conversation.id, "Plants turn light into sugar.")
    print(conversation.last_reply, conversation.progress)
    client.close(conversation.id)

It retries, with exponential backoff, what Canvas asks to be retried: a 503 from the AI service
and throttling (403 "Rate Limit Exceeded", or 429). Every other 4xx is the caller's problem and
raises at once: retrying a 400 or a 404 only gets the same answer again. Results are typed
(``Conversation``, ``ConversationDetail``); errors form one small tree under ``CanvasError``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

__all__ = [
    "AIConversationsClient",
    "BadRequest",
    "CanvasError",
    "Conversation",
    "ConversationDetail",
    "Forbidden",
    "Message",
    "NotFound",
    "Objective",
    "Progress",
    "RetryPolicy",
    "ServiceUnavailable",
    "Throttled",
    "Unauthorized",
]


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "User" or "Assistant"
    text: str
    id: int | None = None  # newer Canvas only


@dataclass(frozen=True, slots=True)
class Objective:
    objective: str
    covered: bool


@dataclass(frozen=True, slots=True)
class Progress:
    current: int
    total: int
    percentage: int
    objectives: tuple[Objective, ...]


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as Canvas returns it: the whole transcript, oldest first."""

    id: int | None  # None when the AI service gave no id on create (nothing was saved)
    messages: tuple[Message, ...]
    progress: Progress | None

    @property
    def transcript(self) -> tuple[Message, ...]:
        """The messages a student sees: Canvas's UI hides the first, the prompt it built."""
        return self.messages[1:]

    @property
    def last_reply(self) -> str | None:
        return next((m.text for m in reversed(self.messages) if m.role == "Assistant"), None)


@dataclass(frozen=True, slots=True)
class ConversationDetail(Conversation):
    """What a teacher sees of any conversation (``show``)."""

    user_id: str
    llm_conversation_id: str | None
    workflow_state: str
    created_at: datetime
    updated_at: datetime


# -- errors -----------------------------------------------------------------------------------
class CanvasError(Exception):
    """Canvas answered with an error. ``status`` and ``body`` say which; the token is never included."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:200]}")
        self.status, self.body = status, body


class BadRequest(CanvasError):
    """400 (e.g. an empty message) or 422 (a message that is too long)."""


class Unauthorized(CanvasError):
    """401: the token is missing, invalid or expired."""


class Forbidden(CanvasError):
    """403: not a member of the course, or a teacher-only route."""


class NotFound(CanvasError):
    """404: course, experience or conversation unknown, not visible, or already closed; or the feature is off."""


class Throttled(CanvasError):
    """403 "Rate Limit Exceeded" or 429, still so after every retry."""


class ServiceUnavailable(CanvasError):
    """503 from the AI service, still so after every retry."""


_BY_STATUS: dict[int, type[CanvasError]] = {400: BadRequest, 422: BadRequest, 401: Unauthorized, 404: NotFound}


def _is_throttled(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    return response.status_code == 403 and "Rate Limit Exceeded" in response.text[:200]


# -- retries ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base_delay * 2**n`` seconds, capped, with up to ``jitter`` of it added."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.1  # a fraction of the delay, so many clients do not retry in step
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based); Canvas's ``Retry-After`` wins."""
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_delay)
        delay = min(self.base_delay * 2.0**retry, self.max_delay)
        return delay + random.uniform(0, delay * self.jitter)


# -- the client -------------------------------------------------------------------------------
class AIConversationsClient:
    """The five AI Conversations routes of one course's AI experience, for one user's token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        course_id: int | str,
        ai_experience_id: int | str,
        *,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/api/v1/courses/{course_id}/ai_experiences/{ai_experience_id}/conversations"
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def active(self) -> Conversation | None:
        """The caller's active conversation, or ``None`` when there is none (Canvas answers ``{}``)."""
        body = self._request("GET", self.url)
        return _conversation(body) if body else None

    def create(self) -> Conversation:
        """Start a new conversation; Canvas closes the caller's active one first."""
        return _conversation(self._request("POST", self.url))

    def show(self, conversation_id: int) -> ConversationDetail:
        """Any conversation of the experience, with owner and state (teachers only: others get ``Forbidden``)."""
        body = self._request("GET", f"{self.url}/{conversation_id}")
        base = _conversation(body)
        return ConversationDetail(
            id=base.id,
            messages=base.messages,
            progress=base.progress,
            user_id=str(body["user_id"]),
            llm_conversation_id=body.get("llm_conversation_id"),
            workflow_state=body["workflow_state"],
            created_at=datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")),
            updated_at=datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00")),
        )

    def send(self, conversation_id: int, text: str) -> Conversation:
        """Send ``text``; returns the whole transcript with it and the assistant's reply appended."""
        if not text.strip():
            raise ValueError("Canvas refuses an empty or blank message (400); send some text")
        return _conversation(self._request("POST", f"{self.url}/{conversation_id}/messages", json={"message": text}))

    def close(self, conversation_id: int) -> str:
        """Close (not delete) a conversation; returns Canvas's confirmation."""
        return str(self._request("DELETE", f"{self.url}/{conversation_id}")["message"])

    def _request(self, method: str, url: str, json: dict[str, str] | None = None) -> dict[str, Any]:
        for retry in range(self.retry.attempts):
            response = self.session.request(method, url, json=json, timeout=self.timeout)
            retryable = response.status_code == 503 or _is_throttled(response)
            if not retryable or retry == self.retry.attempts - 1:
                break
            self.retry.sleep(self.retry.delay(retry, response.headers.get("Retry-After")))
        if response.ok:
            body: dict[str, Any] = response.json()
            return body
        if response.status_code == 503:
            raise ServiceUnavailable(method, url, response.status_code, response.text)
        if _is_throttled(response):
            raise Throttled(method, url, response.status_code, response.text)
        if response.status_code == 403:
            raise Forbidden(method, url, response.status_code, response.text)
        raise _BY_STATUS.get(response.status_code, CanvasError)(method, url, response.status_code, response.text)


def _conversation(body: dict[str, Any]) -> Conversation:
    progress = body.get("progress")
    return Conversation(
        id=_id(body.get("id")),
        messages=tuple(Message(m["role"], m["text"], _id(m.get("id"))) for m in body["messages"]),
        progress=None
        if progress is None
        else Progress(
            current=progress["current"],
            total=progress["total"],
            percentage=progress["percentage"],
            objectives=tuple(Objective(o["objective"], o["status"] == "covered") for o in progress["objectives"]),
        ),
    )


def _id(value: Any) -> int | None:
    """Canvas ids are integers, or strings with ``Accept: application/json+canvas-string-ids``."""
    return None if value is None else int(value)
