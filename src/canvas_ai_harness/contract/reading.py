"""What a request of the run told Canvas, read as Canvas reads it (``canvas.requests``).

The rulebook needs the ``message`` Canvas saw, whether Canvas finds it blank, and the ids in a
path or an answer. Where the request cannot be read the way Canvas would read it, the answer is
"unknown", and no rule about the message is asserted.
"""

from __future__ import annotations

from typing import Any, Final

from canvas_ai_harness.canvas.requests import MalformedRequest, is_blank, parse_id, read_params
from canvas_ai_harness.contract.client import Exchange

__all__ = ["UNKNOWN", "int_id", "is_blank_message", "sent_message", "snippet"]

UNKNOWN: Final[Any] = object()  # a message whose value the request does not make plain


def sent_message(exchange: Exchange) -> Any:
    """The ``message`` Canvas will read (query merged with a JSON or form body, the body winning).

    ``None`` when absent; ``UNKNOWN`` when Canvas could not read the request (it answers 400).
    """
    ctype = next((v for k, v in exchange.request_headers.items() if k.lower() == "content-type"), "")
    try:
        params = read_params(exchange.query, ctype, exchange.request_body)
    except MalformedRequest:
        return UNKNOWN
    return params.get("message")


def is_blank_message(value: Any) -> bool | None:
    """Whether Canvas treats ``message`` as missing (Ruby's ``blank?``); ``None`` when it is not plain.

    A non-empty list or object is left unjudged: what Canvas does with one is not known.
    """
    if value is UNKNOWN or (isinstance(value, list | dict) and value):
        return None
    return is_blank(value)


def int_id(value: Any) -> int | None:
    """An id as an integer: an int, or a string of at most 19 digits (string ids)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return parse_id(value) if isinstance(value, str) else None


def snippet(exchange: Exchange, limit: int = 300) -> str:
    """The answer's body, redacted and then shortened for a report (a cut could halve a token)."""
    text = exchange.redact(exchange.body.decode("utf-8", "replace"))
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
