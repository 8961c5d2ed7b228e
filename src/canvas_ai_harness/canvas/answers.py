"""What Canvas answered: the profiles' differences, the AI service's answers, and the kind of an answer.

``classify(status, headers, body)`` names one answer: ``ok``, ``throttled``, ``daily_limit``,
``ai_unavailable``, ``not_found``, ``unauthorized`` or ``canvas_error``. Every part classifies
with it and decides once, here, what each kind means to it (``shared/canvas-facts.md``):

- ``throttled``: Canvas's leaky bucket, 403 ``text/plain`` "403 Forbidden (Rate Limit Exceeded)"
  (some docs say 429; a JSON body saying "Rate Limit Exceeded" counts too). Slow down and retry.
- ``daily_limit``: profile ``ended``'s per-user daily limit, a JSON 429 with ``"code":
  "rate_limited"``. It is a rate limit too (``SLOW_DOWN``: the load suite counts it as throttled,
  the proxy expects a client to back off), but retrying within a run cannot help
  (``RETRY_SOON`` leaves it out): the contract client hands it to the rulebook as an answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from canvas_ai_harness.canvas.bodies import AI_UNAVAILABLE as AI_UNAVAILABLE_TEXT
from canvas_ai_harness.canvas.requests import media_type

__all__ = [
    "AI_UNAVAILABLE",
    "CANVAS_ERROR",
    "DAILY_LIMIT",
    "KINDS",
    "NOT_FOUND",
    "OK",
    "PROFILES",
    "RETRY_SOON",
    "SLOW_DOWN",
    "THROTTLED",
    "UNAUTHORIZED",
    "Profile",
    "classify",
    "get_profile",
    "header",
    "rate_limited",
    "service_unavailable",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """One of the two behaviour sets Canvas has shipped for these routes."""

    name: str
    closed_state: str
    destroy_message: str
    max_message_chars: int | None
    daily_create_limit: int | None
    daily_message_limit: int | None
    rich_errors: bool
    message_ids: bool
    show_objectives_met: bool  # show adds "all_objectives_met"

    @property
    def too_long(self) -> dict[str, str]:
        return {"error": f"message must be {self.max_message_chars} characters or fewer"}


# The one table of the profiles' differences.
PROFILES: Final = {
    "completed": Profile(
        name="completed",
        closed_state="completed",
        destroy_message="Conversation completed successfully",
        max_message_chars=None,
        daily_create_limit=None,
        daily_message_limit=None,
        rich_errors=False,
        message_ids=False,
        show_objectives_met=False,
    ),
    "ended": Profile(
        name="ended",
        closed_state="ended",
        destroy_message="Conversation ended successfully",
        max_message_chars=4000,
        daily_create_limit=100,
        daily_message_limit=1000,
        rich_errors=True,
        message_ids=True,
        show_objectives_met=True,
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``; raise ``KeyError`` naming the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; valid: {', '.join(sorted(PROFILES))}") from None


def service_unavailable(profile: Profile, reference_id: str, message: str = AI_UNAVAILABLE_TEXT) -> dict[str, Any]:
    """The 503 body Canvas sends when the AI service fails."""
    if not profile.rich_errors:
        return {"error": message}
    return {
        "error": message,
        "code": "service_unavailable",
        "retryable": True,
        "reference_id": reference_id,
    }


def rate_limited(reference_id: str) -> dict[str, Any]:
    """The 429 body of profile ``ended``'s per-user daily limits."""
    return {
        "error": "You've hit the AI Experiences rate limit. Please try again later.",
        "code": "rate_limited",
        "retryable": True,
        "reference_id": reference_id,
    }


OK: Final = "ok"
THROTTLED: Final = "throttled"
DAILY_LIMIT: Final = "daily_limit"
AI_UNAVAILABLE: Final = "ai_unavailable"
NOT_FOUND: Final = "not_found"
UNAUTHORIZED: Final = "unauthorized"
CANVAS_ERROR: Final = "canvas_error"
KINDS: Final = (OK, THROTTLED, DAILY_LIMIT, AI_UNAVAILABLE, NOT_FOUND, UNAUTHORIZED, CANVAS_ERROR)
SLOW_DOWN: Final = frozenset({THROTTLED, DAILY_LIMIT})  # rate limits: a client must back off
RETRY_SOON: Final = frozenset({THROTTLED})  # worth retrying after a short wait

_THROTTLE_MARK: Final = b"rate limit exceeded"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lower-case ``name``, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _daily_limit(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("code") == "rate_limited"


def _throttled(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    if _THROTTLE_MARK in body[:512].lower() or status == 429:
        return True
    media = media_type(header(headers, "content-type"))
    if media == "application/json" or media.endswith("+json"):
        return False  # 403 unauthorized: an answer about the caller, not about its pace
    if media == "text/plain":
        return True
    remaining = header(headers, "x-rate-limit-remaining")
    try:
        return remaining is not None and float(remaining) <= 0.0
    except ValueError:
        return False


def classify(status: int, headers: Mapping[str, str], body: bytes | str) -> str:
    """The kind of one answer (``status`` 0: none arrived, a ``canvas_error``)."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    if 200 <= status < 300:
        return OK
    if status == 429 and _daily_limit(raw):
        return DAILY_LIMIT
    if status in (403, 429) and _throttled(status, headers, raw):
        return THROTTLED
    if status == 503:
        return AI_UNAVAILABLE
    if status == 404:
        return NOT_FOUND
    if status in (401, 403):
        return UNAUTHORIZED
    return CANVAS_ERROR
