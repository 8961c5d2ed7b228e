"""Where an answer departs from the rule, as data: a JSON path, the value expected and the value got.

A ``Detail`` rides on each ``Finding``; the text summary, the JSON report and the HTML report all
show it, through ``shown()``. Values are kept whole until then: ``shown()`` redacts each value's
JSON text first, finds the first character where the two differ, and only then shortens both
around that character, so that a long text is never cut before what matters (and a token never
halved before it is redacted).

Paths are JSONPath-like: ``$`` is the response body (``$.messages[3].text``), ``status`` the
status code, ``headers.<Name>`` a response header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from canvas_ai_harness.htmlreport import around

__all__ = [
    "ABSENT",
    "Detail",
    "difference",
    "excerpt",
    "json_path",
    "needle",
    "path_parts",
    "shown",
    "status_detail",
    "value_at",
    "window",
]


class _Absent:
    """The value of a key or item that is not there."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Final[Any] = _Absent()
_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_ELLIPSIS = "…"
WIDTH: Final = 160  # characters of a value shown around its first difference


@dataclass(frozen=True, slots=True)
class Detail:
    """Where a rule was broken: ``path`` in the answer, what it should hold and what it held.

    ``expected`` is a JSON value, or with ``described`` a sentence (a schema's wording, "not 404").
    """

    path: str
    expected: Any = ABSENT
    got: Any = ABSENT
    described: bool = False


def json_path(parts: Sequence[str | int]) -> str:
    """``["messages", 3, "text"]`` as ``$.messages[3].text``."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def path_parts(path: str) -> list[str | int] | None:
    """The parts of a ``$`` path (``None`` for ``status`` or a header)."""
    if not path.startswith("$"):
        return None
    return [key if key else int(index) for key, index in _PART.findall(path[1:])]


def value_at(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data``; ``ABSENT`` when there is none."""
    parts = path_parts(path)
    if parts is None:
        return ABSENT
    for part in parts:
        found = (isinstance(part, int) and isinstance(data, list) and part < len(data)) or (
            isinstance(part, str) and isinstance(data, dict) and part in data
        )
        if not found:
            return ABSENT
        data = data[part]
    return data


def difference(expected: Any, got: Any, parts: tuple[str | int, ...] = ()) -> Detail | None:
    """The first place where ``got`` differs from ``expected`` (two JSON values); ``None`` if equal."""
    for where, want, have in _differences(expected, got, parts):
        return Detail(json_path(where), want, have)
    return None


def _differences(
    want: Any, have: Any, parts: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Any, Any]]:
    if isinstance(want, dict) and isinstance(have, dict):
        for key in [*want, *(k for k in have if k not in want)]:
            yield from _differences(want.get(key, ABSENT), have.get(key, ABSENT), (*parts, key))
    elif isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            yield from _differences(a, b, (*parts, i))
    elif want != have or type(want) is not type(have):
        yield parts, want, have


def status_detail(status: int, expected: str | Sequence[int]) -> Detail:
    """The status code got, against the statuses (or a sentence) the rule wants."""
    if isinstance(expected, str):
        return Detail("status", expected, status, described=True)
    return Detail("status", expected[0] if len(expected) == 1 else list(expected), status)


def _text(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False)


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def window(text: str, at: int, width: int = WIDTH) -> str:
    """``text`` shortened to about ``width`` characters around position ``at`` (``…`` at each cut)."""
    if len(text) <= width:
        return text
    start = max(0, min(at - width // 3, len(text) - width))
    end = start + width
    return (_ELLIPSIS if start else "") + text[start:end] + (_ELLIPSIS if end < len(text) else "")


def _texts(detail: Detail, redact: Callable[[str], str]) -> tuple[str, str, int | None]:
    """Both values as redacted JSON texts, and where they first differ in the got text's JSON."""
    got = redact(_text(detail.got))
    expected = redact(str(detail.expected) if detail.described else _text(detail.expected))
    if not (isinstance(detail.got, str) and isinstance(detail.expected, str) and not detail.described):
        return expected, got, None
    try:
        raw_got, raw_expected = json.loads(got), json.loads(expected)
    except ValueError:
        return expected, got, None
    return expected, got, _first_difference(raw_expected, raw_got)


def _offset(text: str, at: int) -> int:
    """Where character ``at`` of the string that ``text`` (JSON) encodes sits in ``text``."""
    try:
        return len(json.dumps(json.loads(text)[:at], ensure_ascii=False)) - 1
    except ValueError:
        return at


def shown(detail: Detail, redact: Callable[[str], str] = str, width: int = WIDTH) -> dict[str, Any]:
    """``detail`` for a report: redacted, then shortened around the first difference.

    ``difference_at`` is the first differing character when both values are texts (0-based,
    counted in the redacted text).
    """
    expected, got, at = _texts(detail, redact)
    offset = 0 if at is None else _offset(got, at)
    return {
        "path": detail.path,
        "expected_value": window(expected, offset, width),
        "got_value": window(got, offset, width),
        "difference_at": at,
    }


def needle(detail: Detail, redact: Callable[[str], str] = str) -> str | None:
    """A piece of the pretty-printed answer body at the difference, for ``htmlreport.around``."""
    parts = path_parts(detail.path)
    if not parts:
        return None
    key = parts[-1]
    if detail.got is ABSENT or isinstance(detail.got, dict | list):
        named = next((p for p in reversed(parts) if isinstance(p, str)), None)
        return None if named is None else f'"{named}":'
    _, got, at = _texts(detail, redact)
    if at is not None and len(got) > 60:
        start = max(1, _offset(got, at) - 20)
        return got[start : start + 40]
    return f'"{key}": {got[:40]}' if isinstance(key, str) else got[:40]


def excerpt(body: str, detail: Detail | None, redact: Callable[[str], str], width: int, *, sent: bool = False) -> str:
    """``body`` (redacted, pretty-printed) shortened to about ``width`` around ``detail``'s difference.

    The answer is cut around the value got; with ``sent``, the request around the value expected
    (the rule wants back a text the request sent: the user's message). A text is found whole in
    the body and cut at its first differing character, so that a text repeating itself is not
    cut at an earlier, identical place; other values by ``needle``; else the body's head.
    """
    if detail is None:
        return around(body, None, width)
    expected, got, at = _texts(detail, redact)
    value = expected if sent else got
    if at is not None and len(value) > 10:
        start = body.find(value[1:-1])  # the text's characters as they stand in the JSON body
        if start >= 0:
            return window(body, start + _offset(value, at) - 1, width)
    return around(body, None if sent else needle(detail, redact), width)
