"""What goes into and out of ``CanvasService``: a request, an answer, a recorded call, and the
configuration that shapes the mock (``MockConfig``), with Canvas's defaults and ``budgets.py``'s.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from canvas_ai_harness import budgets
from canvas_ai_harness.mock.llm import Latency
from canvas_ai_harness.mock.throttle import ThrottleConfig

__all__ = ["JSON_TYPE", "ApiRequest", "ApiResponse", "Call", "CallLog", "MockConfig"]

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(slots=True)
class ApiRequest:
    """An HTTP request, reduced to what Canvas looks at. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = "127.0.0.1"


@dataclass(slots=True)
class ApiResponse:
    """What Canvas answers. ``delay`` is the AI service's time, which the HTTP layer waits out."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    throttle_key: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True, frozen=True)
class Call:
    """One request the mock answered, for tests and reports."""

    method: str
    path: str
    status: int
    user_id: int | None


class CallLog:
    """The recent calls, oldest first, at most ``maxlen`` (0 keeps none).

    Kept as plain tuples of atomic values, which the garbage collector stops tracking: a log of
    Call objects put one long-lived object per request into the oldest generation, and so paid
    for full collections. Iterating gives ``Call`` values.
    """

    __slots__ = ("_rows",)

    def __init__(self, maxlen: int) -> None:
        self._rows: deque[tuple[str, str, int, int | None]] = deque(maxlen=maxlen)

    @property
    def maxlen(self) -> int:
        return self._rows.maxlen or 0

    def record(self, method: str, path: str, status: int, user_id: int | None) -> None:
        self._rows.append((method, path, status, user_id))

    def clear(self) -> None:
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Call]:
        return (Call(*row) for row in list(self._rows))


@dataclass(slots=True)
class MockConfig:
    """Everything that shapes the mock's behaviour, with Canvas's defaults."""

    profile: str = "completed"
    llm_latency: Latency = field(default_factory=Latency)
    llm_failure_rate: float = 0.0
    llm_null_id_rate: float = 0.0
    seed: int | None = None
    max_conversations: int = 200_000
    throttle: ThrottleConfig | None = None
    max_body_bytes: int = (
        budgets.MOCK_BODY_BYTES
    )  # larger request bodies get 413 (in profile completed, the cap on a message)
    max_stored_bytes: int = budgets.STORED_BYTES  # past it, conversations are evicted (completed ones first)
    max_transcript_bytes: int = budgets.TRANSCRIPT_BYTES  # a post that would grow a transcript past it gets 413
    max_students: int = budgets.STUDENTS  # students the control route may add in total (POST /__harness__/students)
    max_header_bytes: int = budgets.DEFAULT_HEADER_BYTES  # a request's line and headers; past it 431
    read_timeout_s: float = budgets.DEFAULT_READ_TIMEOUT_S  # for a request's head and body to arrive; past it 408
    keep_alive_s: float = budgets.KEEP_ALIVE_S  # how long an idle client connection stays open between requests
    max_idle_connections: int | None = None  # idle or incomplete connections; None: half the open-file limit
    unauthorized_status: int = 403  # older Canvas sites answer non-members 401
    record_calls: int = 10_000  # how many recent calls to keep; 0 keeps none
    faults: frozenset[str] = frozenset()  # tests only: deliberate contract breaks (mock/faults.py)
    students: int = 0  # more students of the default course, for a target file's [tokens] students
