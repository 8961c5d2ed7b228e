"""The bodies Canvas answers with, byte for byte once serialised, and its small pure conventions.

Everything here follows ``shared/canvas-facts.md``. The mock answers with these bodies and every
check expects them, so each is written once. The profiles' differences and the AI service's
answers live in ``canvas/answers.py``.
"""

from __future__ import annotations

import math
from typing import Any, Final

__all__ = [
    "AI_UNAVAILABLE",
    "BLANK_MESSAGE",
    "CANVAS_STRING_IDS",
    "FORBIDDEN",
    "INTERNAL_ERROR",
    "INVALID_AS_USER_ID",
    "INVALID_TOKEN",
    "MALFORMED_BODY",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED_TEXT",
    "ROUTE_NOT_FOUND",
    "UNAUTHENTICATED",
    "WWW_AUTHENTICATE",
    "is_id_key",
    "percentage",
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


def percentage(current: int, total: int) -> int:
    """Ruby's ``(100.0 * current / total).round``: halves round away from zero; 0 when total is 0."""
    if total <= 0:
        return 0
    return math.floor(100.0 * current / total + 0.5)


def is_id_key(key: str) -> bool:
    """Canvas's id keys: ``id`` and every ``*_id`` (what string ids turn into strings)."""
    return key == "id" or key.endswith("_id")


def stringify_ids(value: Any) -> Any:
    """Apply ``Accept: application/json+canvas-string-ids``: integer ids become strings, recursively."""
    if isinstance(value, dict):
        return {
            k: (str(v) if is_id_key(k) and isinstance(v, int) and not isinstance(v, bool) else stringify_ids(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [stringify_ids(v) for v in value]
    return value
