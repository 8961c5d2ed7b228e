"""The requests a ``FakeCanvas`` saw, and assertions about them.

``fake.calls`` is a ``CallLog``: a sequence of ``FakeCall`` in the order the client sent them,
filterable by the spec's operationId (``createConversation``, ``postMessage``...), with
assertion helpers whose failures say what was expected and what the client actually did.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from canvas_ai_harness.validation import Violation

__all__ = ["CallLog", "FakeCall"]


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One request the client sent, and the fake's answer (``status`` is ``None`` when it raised)."""

    method: str
    url: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names, as sent
    body: bytes
    operation_id: str | None
    status: int | None
    response_body: bytes = b""
    violations: tuple[Violation, ...] = ()
    response_violations: tuple[Violation, ...] = ()

    @property
    def conforming(self) -> bool:
        """Whether the request kept to the spec."""
        return not self.violations

    def json(self) -> Any:
        """The response body, parsed."""
        return json.loads(self.response_body)

    def request_json(self) -> Any:
        """The request body, parsed as JSON."""
        return json.loads(self.body)

    def __str__(self) -> str:
        answer = self.status if self.status is not None else "raised"
        return f"{self.method} {self.path} ({self.operation_id or 'no operation'}) -> {answer}"


class CallLog(Sequence[FakeCall]):
    """Every call in order; thread-safe to append to while a test reads it."""

    def __init__(self) -> None:
        self._calls: list[FakeCall] = []
        self._lock = threading.Lock()

    def append(self, call: FakeCall) -> None:
        with self._lock:
            self._calls.append(call)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    @overload
    def __getitem__(self, index: int) -> FakeCall: ...
    @overload
    def __getitem__(self, index: slice) -> list[FakeCall]: ...
    def __getitem__(self, index: int | slice) -> FakeCall | list[FakeCall]:
        with self._lock:
            return self._calls[index]

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[FakeCall]:
        with self._lock:
            return iter(list(self._calls))

    def __repr__(self) -> str:
        return f"CallLog({[str(c) for c in self]})"

    # -- queries ------------------------------------------------------------------------------
    def of(self, operation_id: str | None = None, *, status: int | None = None) -> list[FakeCall]:
        """The calls to one operation (all when ``None``), optionally only those answered ``status``."""
        return [
            c
            for c in self
            if (operation_id is None or c.operation_id == operation_id) and (status is None or c.status == status)
        ]

    @property
    def operations(self) -> list[str | None]:
        """The operationId of each call, in order (``None`` for a request the spec does not know)."""
        return [c.operation_id for c in self]

    @property
    def non_conforming(self) -> list[FakeCall]:
        return [c for c in self if c.violations]

    # -- assertions ---------------------------------------------------------------------------
    def assert_called(self, operation_id: str, times: int | None = None, *, status: int | None = None) -> None:
        """Assert ``operation_id`` was called (exactly ``times`` times, when given)."""
        found = self.of(operation_id, status=status)
        what = f"{operation_id}{f' answered {status}' if status is not None else ''}"
        if times is None and not found:
            raise AssertionError(f"expected at least one {what} call; the client sent: {self._summary()}")
        if times is not None and len(found) != times:
            raise AssertionError(
                f"expected {times} {what} call(s), got {len(found)}; the client sent: {self._summary()}"
            )

    def assert_not_called(self, operation_id: str) -> None:
        self.assert_called(operation_id, times=0)

    def assert_operations(self, *operation_ids: str | None) -> None:
        """Assert the exact sequence of operations the client called."""
        if tuple(self.operations) != operation_ids:
            raise AssertionError(f"expected calls {list(operation_ids)}, got {self.operations}")

    def assert_conforming(self) -> None:
        """Assert every request kept to the spec (for clients that swallow the fake's errors)."""
        bad = self.non_conforming
        if bad:
            lines = [f"{c}: {'; '.join(map(str, c.violations))}" for c in bad]
            raise AssertionError(f"{len(bad)} request(s) did not conform to the spec:\n  " + "\n  ".join(lines))

    def _summary(self) -> str:
        return ", ".join(str(c) for c in self) or "nothing"
