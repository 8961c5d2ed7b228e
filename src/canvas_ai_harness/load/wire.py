"""What the simulated users send and get back, kept cheap: bodies encoded once, answers parsed once.

Plain Python (orjson, no locust and no gevent), so the tests use it without starting locust.

- ``message_body``: a post_message's JSON body, UTF-8 as Canvas's UI sends it (orjson: one call,
  no encoder object built per message);
- ``loads`` / ``parse_json``: the standard library's parser, not orjson's, which turns an
  integer past 64 bits into a float (an id must be read exactly); an answer is parsed once;
- ``Reply``: one answer, its outcome class (``outcomes.py``), and its body parsed on first use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.load.outcomes import OK

__all__ = ["Reply", "loads", "message_body", "parse_json"]


def message_body(message: str) -> bytes:
    """The JSON body of a post_message (UTF-8, what ``json.dumps(..., ensure_ascii=False)`` holds)."""
    return orjson.dumps({"message": message})


def loads(body: bytes) -> Any:
    """``body`` parsed; ``ValueError`` when it is not JSON (or not UTF-8)."""
    return json.loads(body)


def parse_json(body: bytes) -> Any:
    """``body`` parsed, or ``None`` when it is not JSON."""
    try:
        return loads(body)
    except ValueError:
        return None


@dataclass(slots=True)
class Reply:
    """What a request came back with."""

    status: int
    body: bytes
    outcome: str
    millis: float
    kind: str = answers.CANVAS_ERROR  # canvas.answers' kind of the answer
    _data: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    def json(self) -> Any:
        """The body parsed (once), or ``None`` when it is not JSON."""
        if not self._parsed:
            self._data, self._parsed = parse_json(self.body), True
        return self._data
