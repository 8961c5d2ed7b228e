"""One answer of Canvas in a normalised form: what a client depends on, without what varies by run.

``Normaliser.answer(exchange)`` records:

- ``status``, ``content_type`` (the media type), ``headers`` (the names, lower-case; values vary)
  and the value of the few headers whose value is a contract (``www-authenticate``);
- ``body``: ``json``, ``text``, ``empty`` or ``invalid-json``;
- ``shape``: every path of a JSON body (``messages[].role``; a list's items share ``[]``) and the
  JSON types seen there (``integer|null``);
- ``values``: the stable values a client reads (error messages, states, roles, the end message,
  codes), in order where a path holds several; ids become placeholders numbered per path in
  order of first appearance (``<id 1>``: the same id is the same placeholder across the
  snapshot; an id inside a list is ``<id>``), times ``<time>``, per-request references
  ``<reference>``. Free text (the AI's replies, the hidden prompt, objectives) and what follows
  the conversation (``progress``) are left out: their types are in the shape;
- ``counts``: the length of every list (``messages``: 4), but the objectives': how many an
  experience has is the course's data, not Canvas's behaviour (production and staging may differ).

Two snapshots of one Canvas therefore agree whatever the AI said and whenever they ran. Every
string kept is redacted first: a token a Canvas echoes never reaches the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.canvas.requests import media_type

__all__ = ["CONTRACT_HEADERS", "STABLE_KEYS", "Normaliser", "json_type"]

# Keys whose string (or boolean) values are the contract itself: a client compares them.
STABLE_KEYS: Final = frozenset(
    {"error", "message", "status", "workflow_state", "role", "code", "error_code", "retryable"}
)
# Headers whose value, not only whose presence, a client relies on.
CONTRACT_HEADERS: Final = frozenset({"www-authenticate"})
# Headers that come and go with the transport, a proxy or a CDN in front of Canvas, or a session
# cookie: not with Canvas's answer. Their presence would make two snapshots of one Canvas differ.
TRANSPORT_HEADERS: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "date",
        "set-cookie",
        "age",
        "via",
        "server-timing",
        "x-cache",
        "x-cache-hits",
        "cf-ray",
        "cf-cache-status",
        "x-amz-cf-id",
        "x-amz-cf-pop",
    }
)
TIME_KEYS: Final = frozenset({"created_at", "updated_at"})
_ISO_UTC: Final = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]00:?00)$")
_REFERENCES: Final = frozenset({"reference_id"})  # a new one on every answer


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: ``object``, ``array``, ``string``, ``integer``, ``number``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _key(path: str) -> str:
    return path.rsplit(".", 1)[-1].removesuffix("[]")


class Normaliser:
    """Normalises the answers of one snapshot; the id placeholders are shared across all of them."""

    def __init__(self, redactor: Callable[[str], str]) -> None:
        self.redact = redactor
        self._ids: dict[str, dict[str, str]] = {}  # path -> id value -> placeholder

    def placeholder(self, path: str, value: Any) -> str:
        """The placeholder of the id ``value`` at ``path`` (an integer and its string are one id)."""
        seen = self._ids.setdefault(path, {})
        return seen.setdefault(str(value), f"<id {len(seen) + 1}>")

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        names = sorted({k.lower() for k in headers} - TRANSPORT_HEADERS)
        media = media_type(headers.get("content-type"))
        record: dict[str, Any] = {
            "status": status,
            "content_type": media,
            "headers": names,
            "header_values": {k: self.redact(headers[k]) for k in sorted(CONTRACT_HEADERS) if k in headers},
        }
        parsed, kind = _parse(media, body)
        record["body"] = kind
        shape: dict[str, set[str]] = {}
        values: dict[str, list[Any]] = {}
        counts: dict[str, list[int]] = {}
        if kind == "json":
            self._walk(parsed, "", shape, values, counts)
        record["shape"] = {path: "|".join(sorted(types)) for path, types in sorted(shape.items())}
        record["values"] = {path: found[0] if len(found) == 1 else found for path, found in sorted(values.items())}
        record["counts"] = {path: found[0] if len(found) == 1 else found for path, found in sorted(counts.items())}
        return record

    def _walk(
        self,
        value: Any,
        path: str,
        shape: dict[str, set[str]],
        values: dict[str, list[Any]],
        counts: dict[str, list[int]],
    ) -> None:
        shape.setdefault(path or "$", set()).add(json_type(value))
        if isinstance(value, dict):
            for key, item in value.items():
                self._walk(item, f"{path}.{key}" if path else str(key), shape, values, counts)
            return
        if isinstance(value, list):
            if not path.startswith("progress."):
                counts.setdefault(path or "$", []).append(len(value))
            for item in value:
                self._walk(item, f"{path}[]", shape, values, counts)
            return
        kept = self._value(path, value)
        if kept is not _SKIP:
            values.setdefault(path or "$", []).append(kept)

    def _value(self, path: str, value: Any) -> Any:
        key = _key(path)
        if path.startswith("progress."):
            return _SKIP  # follows the AI and the experience's objectives: only its shape is Canvas's
        if value is None:
            return None
        if key in _REFERENCES:
            return "<reference>"
        if bodies.is_id_key(key) and not isinstance(value, bool | float | dict | list):
            # An id in a list (a message's) is numbered nowhere: one more message earlier would renumber the rest.
            return "<id>" if "[]" in path else self.placeholder(path, value)
        if key in TIME_KEYS:
            return "<time>" if isinstance(value, str) and _ISO_UTC.match(value) else "<not a time>"
        if key in STABLE_KEYS or (path == "errors" and isinstance(value, str)):
            return self.redact(value) if isinstance(value, str) else value
        return _SKIP  # free text, and numbers and flags that vary: their type is in the shape


_SKIP: Final[Any] = object()


def _parse(media: str, body: bytes) -> tuple[Any, str]:
    if not body:
        return None, "empty"
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body), "json"
        except ValueError:
            return None, "invalid-json"
    return None, "text"
