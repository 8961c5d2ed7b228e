"""Faults a test asks the fake for, made by configuring the mock's domain rather than by canned bodies.

Each fault changes one knob of the ``CanvasService`` (the fake AI's failure rate, the throttle's
buckets, the profile's daily limits) and puts it back once it has fired ``times`` times, so the
answer is exactly what the domain would give: the same body, headers and state changes (a 503 on
create still closes the previous conversation, as on Canvas).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.mock.service import ApiResponse, CanvasService
from canvas_ai_harness.mock.throttle import LeakyBuckets, ThrottleConfig

__all__ = ["FaultInjector", "answer_kind"]

# A bucket smaller than one request's up-front cost: every request overflows it.
_ALWAYS_FULL = ThrottleConfig(capacity=1.0, outflow=0.0, upfront=2.0, cost=0.0)


@dataclass(slots=True)
class _Fault:
    remaining: int | None  # None: until cleared
    fired: Callable[[ApiResponse], bool]
    restore: Callable[[], None]


def answer_kind(response: ApiResponse) -> str:
    """The kind of the fake's answer (``canvas.answers``): how a fault knows it fired."""
    return answers.classify(response.status, {"content-type": response.content_type, **response.headers}, response.body)


def _kind(kind: str) -> Callable[[ApiResponse], bool]:
    return lambda response: answer_kind(response) == kind


def _null_id(response: ApiResponse) -> bool:
    if response.status != 201:
        return False
    body: Any = response.json()
    return isinstance(body, dict) and body.get("id") is None


def _set(owner: Any, name: str, value: Any) -> Callable[[], Callable[[], None]]:
    """Arming: set ``owner.name`` to ``value``; returns what puts the old value back."""

    def apply() -> Callable[[], None]:
        before = getattr(owner, name)
        setattr(owner, name, value)
        return lambda: setattr(owner, name, before)

    return apply


class FaultInjector:
    """Arms and settles the fake's counted faults. ``settle()`` runs after every answer."""

    def __init__(self, service: CanvasService) -> None:
        self.service = service
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()

    def _arm(
        self, name: str, times: int | None, fired: Callable[[ApiResponse], bool], apply: Callable[[], Any]
    ) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None for 'until cleared'), not {times}")
        with self._lock:
            fault = self._faults.get(name)
            if fault is not None:  # armed already: count on, keep the original knob to restore
                fault.remaining = None if times is None or fault.remaining is None else fault.remaining + times
                return
            self._faults[name] = _Fault(times, fired, apply())

    def ai_unavailable(self, times: int | None) -> None:
        self._arm("ai_unavailable", times, _kind(answers.AI_UNAVAILABLE), _set(self.service.llm, "failure_rate", 1.0))

    def null_conversation_id(self, times: int | None) -> None:
        self._arm("null_conversation_id", times, _null_id, _set(self.service.llm, "null_id_rate", 1.0))

    def throttle(self, times: int | None) -> None:
        self._arm(
            "throttle", times, _kind(answers.THROTTLED), _set(self.service, "buckets", LeakyBuckets(_ALWAYS_FULL))
        )

    def rate_limit(self, times: int | None) -> None:
        exhausted = replace(self.service.profile, daily_create_limit=0, daily_message_limit=0)
        self._arm("rate_limit", times, _kind(answers.DAILY_LIMIT), _set(self.service, "profile", exhausted))

    def settle(self, response: ApiResponse) -> None:
        """Count ``response`` against the faults it shows; put back the knobs of exhausted ones."""
        with self._lock:
            for name, fault in list(self._faults.items()):
                if fault.remaining is None or not fault.fired(response):
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    del self._faults[name]
                    fault.restore()

    def clear(self) -> None:
        """Disarm every fault and put every knob back."""
        with self._lock:
            faults, self._faults = self._faults, {}
        for fault in faults.values():
            fault.restore()

    @property
    def armed(self) -> dict[str, int | None]:
        """Armed faults and how many more times each will fire (``None``: until cleared)."""
        with self._lock:
            return {name: f.remaining for name, f in self._faults.items()}
