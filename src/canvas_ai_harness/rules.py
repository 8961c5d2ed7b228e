"""Canvas's behaviour on the AI Conversations routes, as data and small pure functions.

Everything here follows ``shared/canvas-facts.md``. The mock server, the ``responses`` fake and
the contract checks all import it, so each rule is written once: the mock answers with these
bodies and the checks expect them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "AI_UNAVAILABLE",
    "BLANK_MESSAGE",
    "CANVAS_STRING_IDS",
    "FORBIDDEN",
    "HIDDEN_ID_KEYS",
    "INTERNAL_ERROR",
    "INVALID_AS_USER_ID",
    "INVALID_TOKEN",
    "MALFORMED_BODY",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "PROFILES",
    "RATE_LIMITED_TEXT",
    "ROUTE_NOT_FOUND",
    "TURN_ROLES",
    "UNAUTHENTICATED",
    "WWW_AUTHENTICATE",
    "Profile",
    "get_profile",
    "percentage",
    "rate_limited",
    "service_unavailable",
    "stringify_ids",
]

# Bodies Canvas answers with, byte for byte once serialised.
ROUTE_NOT_FOUND: Final = {"errors": [{"message": "The specified resource does not exist."}]}
NOT_FOUND: Final = {"error": "Resource Not Found"}
INVALID_TOKEN: Final = {"errors": [{"message": "Invalid access token."}]}
UNAUTHENTICATED: Final = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
FORBIDDEN: Final = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
INVALID_AS_USER_ID: Final = {"errors": "Invalid as_user_id"}
BLANK_MESSAGE: Final = {"error": "message is required"}
INTERNAL_ERROR: Final = {"errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}]}
# Not in canvas-facts.md: Rails answers unparseable parameters with 400 and an oversized body
# is refused by the web server; the mock uses Canvas's list-of-errors shape for both.
MALFORMED_BODY: Final = {"errors": [{"message": "The request body could not be parsed."}]}
PAYLOAD_TOO_LARGE: Final = {"errors": [{"message": "Request entity too large."}]}

WWW_AUTHENTICATE: Final = 'Bearer realm="canvas-lms"'
RATE_LIMITED_TEXT: Final = "403 Forbidden (Rate Limit Exceeded)"
CANVAS_STRING_IDS: Final = "application/json+canvas-string-ids"
AI_UNAVAILABLE: Final = "The AI service is temporarily unavailable."
# A new transcript is exactly these two roles, and each post_message appends exactly them again.
TURN_ROLES: Final = ["User", "Assistant"]
# The AI service's own conversation id: only show may expose it (Canvas's tests assert it absent).
HIDDEN_ID_KEYS: Final = ("llm_conversation_id", "conversation_id")


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

    @property
    def too_long(self) -> dict[str, str]:
        return {"error": f"message must be {self.max_message_chars} characters or fewer"}


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
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``; raise ``KeyError`` naming the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; valid: {', '.join(sorted(PROFILES))}") from None


def service_unavailable(profile: Profile, reference_id: str, message: str = AI_UNAVAILABLE) -> dict[str, Any]:
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


def percentage(current: int, total: int) -> int:
    """Ruby's ``(100.0 * current / total).round``: halves round away from zero; 0 when total is 0."""
    if total <= 0:
        return 0
    return math.floor(100.0 * current / total + 0.5)


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def stringify_ids(value: Any) -> Any:
    """Apply ``Accept: application/json+canvas-string-ids``: integer ids become strings, recursively."""
    if isinstance(value, dict):
        return {
            k: (str(v) if _is_id_key(k) and isinstance(v, int) and not isinstance(v, bool) else stringify_ids(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [stringify_ids(v) for v in value]
    return value
