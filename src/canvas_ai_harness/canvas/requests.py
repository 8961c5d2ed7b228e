"""Reading a request the way Canvas does: parameters, the caller's token, ids, a blank ``message``.

Rails merges the query string with a JSON or form body (the body wins), takes the token from
``Authorization: Bearer`` or an ``access_token`` parameter, and finds records by ids of at most
19 digits (``Api::ID_REGEX``, ``\\A\\d{1,19}\\z``: a 64-bit id) or ``sis_course_id:`` references.
What counts as present is Ruby's ``present?``: not ``blank?``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

__all__ = [
    "MAX_ID_DIGITS",
    "SIS_COURSE_PREFIX",
    "MalformedRequest",
    "bearer_token",
    "is_blank",
    "media_type",
    "message_text",
    "parse_id",
    "read_params",
    "request_token",
    "request_tokens",
    "sis_course_id",
    "sis_course_ref",
]

# Canvas's Api::ID_REGEX is \A\d{1,#{MAX_ID_LENGTH}}\z with MAX_ID = 2**63 - 1: 19 digits at most.
MAX_ID_DIGITS: Final = 19
SIS_COURSE_PREFIX: Final = "sis_course_id:"
# Ruby's String#blank? is /\A[[:space:]]*\z/: Unicode White_Space only. Python's str.strip() and
# \s also strip U+001C..U+001F, which Ruby keeps: a message of those alone is present to Canvas.
_RUBY_BLANK: Final = re.compile(r"[ \t\n\v\f\r\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\Z")


class MalformedRequest(ValueError):
    """Canvas cannot read the request's parameters: it answers 400."""


def parse_id(ref: str) -> int | None:
    """The integer a path segment names, or ``None`` when Canvas would find nothing by it."""
    if ref.isascii() and ref.isdigit() and len(ref) <= MAX_ID_DIGITS:
        return int(ref)
    return None


def sis_course_ref(sis_id: str) -> str:
    """The ``:course_id`` that names a course by its SIS id: ``sis_course_id:<sis id>``."""
    return SIS_COURSE_PREFIX + sis_id


def sis_course_id(ref: str) -> str | None:
    """The SIS id a ``sis_course_id:<sis id>`` reference names, or ``None`` for any other reference."""
    return ref[len(SIS_COURSE_PREFIX) :] if ref.startswith(SIS_COURSE_PREFIX) else None


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Ruby's JSON.parse refuses NaN and Infinity


# One decoder for every request: json.loads(text, parse_constant=...) builds a new one per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def read_params(query: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """Canvas's merged parameters: the query string, then a JSON object or a form body on top.

    Raises ``MalformedRequest`` when Canvas could not read them (invalid UTF-8 or percent-encoding,
    malformed JSON, NaN, a lone surrogate, nesting too deep).
    """
    try:
        params: dict[str, Any] = {}
        if query:
            params.update(parse_qsl(query, keep_blank_values=True, errors="strict"))
        if body:
            media = media_type(content_type)
            text = body.decode("utf-8")
            if _is_json(media):
                data = _DECODER.decode(text)
                if isinstance(data, dict):
                    # A lone surrogate ("\ud800") parses but could never be sent back as UTF-8.
                    # Only a \u escape can make one: the text itself decoded as strict UTF-8.
                    if "\\u" in text:
                        json.dumps(data, ensure_ascii=False).encode("utf-8")
                    params.update(data)
            elif media == "application/x-www-form-urlencoded":
                params.update(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except (UnicodeError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise MalformedRequest(str(exc)) from None
    return params


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (names lower-case), if any."""
    auth = headers.get("authorization")
    if not auth:
        return None
    scheme, _, token = auth.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def request_token(headers: Mapping[str, str], params: Mapping[str, Any]) -> str | None:
    """The caller's token: the Bearer header first, else an ``access_token`` parameter."""
    token = bearer_token(headers)
    if token is None and isinstance(params.get("access_token"), str):
        token = params["access_token"]
    return token


def request_tokens(headers: Mapping[str, str], query: str, content_type: str | None, body: bytes) -> list[str]:
    """Every token a request carries where Canvas may read one, whichever Canvas would use.

    The ``Authorization: Bearer`` header, and ``access_token`` in the query, a form or a JSON body
    (keys and values decoded as Rails decodes them). Read leniently: a request Canvas cannot
    read (``MalformedRequest``) still gives up the tokens in its readable parts. For whoever must
    keep tokens out of what it writes: the proxy learns them here before it logs a request.
    """
    found = [token for token in (bearer_token(headers),) if token]
    sources = [query]
    media = media_type(content_type)
    if body and _is_json(media):
        try:
            data = json.loads(body.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("access_token"), str):
            found.append(data["access_token"])
    elif body:  # a form, or a body of no declared type that may still be one
        sources.append(body.decode("utf-8", "replace"))
    for text in sources:
        found += [value for key, value in parse_qsl(text, keep_blank_values=True) if key == "access_token" and value]
    return list(dict.fromkeys(found))


def is_blank(value: Any) -> bool:
    """Ruby's ``blank?``: nil, false, an empty collection, or a string of white space only."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return _RUBY_BLANK.match(value) is not None
    if isinstance(value, list | dict | tuple):
        return not value
    return False


def message_text(value: Any) -> str | None:
    """The text Canvas passes on for ``message``, or ``None`` when it answers 400 "message is required".

    Canvas checks ``message.present?`` and nothing else: numbers are text (a JSON ``1.5`` is
    "1.5"), ``true`` is "true". A list or an object is refused here: what Canvas would do with
    one is not known, and the contract does not allow it.
    """
    if is_blank(value):
        return None
    if value is True:
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    return None
