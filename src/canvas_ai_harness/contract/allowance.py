"""What a contract run costs each identity of Canvas's daily allowance, before and after.

Profile ``ended`` allows each user 100 creates and 1,000 messages a day (``canvas.answers``
``Profile.daily_create_limit``/``daily_message_limit``). Before the first request the suite
prints an estimate (``Estimate``, from each scenario's ``canvas_cost`` marker, the
explorations' caps and the budgets); after it, what each identity spent and what Canvas said is
left (``Allowance``). Canvas says nothing about what is left until it refuses: its 429
``rate_limited`` means none. Anything else is "unknown", never a guess.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CREATE", "POST", "Allowance", "Estimate"]

CREATE: Final = "createConversation"
POST: Final = "postMessage"
_NOUNS: Final = {CREATE: "creates", POST: "messages"}
# Headers a Canvas (or a proxy before it) might use to say what is left of a limit; reported as given.
_LIMIT_HEADERS: Final = ("retry-after", "ratelimit", "x-ratelimit")


@dataclass(slots=True)
class Allowance:
    """Per identity: AI calls spent by this run, and what Canvas said of its daily limits."""

    used: Counter[tuple[str, str]] = field(default_factory=Counter)
    said: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spent(self, identity: str, operation_id: str) -> None:
        with self._lock:
            self.used[(identity, operation_id)] += 1

    def met_limit(self, identity: str, operation_id: str, headers: Mapping[str, str], body: Any) -> None:
        """Canvas answered 429 ``rate_limited``: nothing is left today; keep what it said."""
        told = [f"{k}: {v}" for k, v in sorted(headers.items()) if k.lower().startswith(_LIMIT_HEADERS)]
        reference = body.get("reference_id") if isinstance(body, dict) else None
        detail = ", ".join([*told, *([f"reference_id {reference}"] if isinstance(reference, str) else [])])
        with self._lock:
            self.said[(identity, operation_id)] = "0 left (429 rate_limited" + (f"; {detail})" if detail else ")")

    def identities(self) -> list[str]:
        return sorted({identity for identity, _ in [*self.used, *self.said]})

    def report(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{identity: {"creates"|"messages": {"used": n, "left": what Canvas said or "unknown"}}}``."""
        return {
            identity: {
                noun: {"used": self.used[(identity, op)], "left": self.said.get((identity, op), "unknown")}
                for op, noun in _NOUNS.items()
            }
            for identity in self.identities()
        }

    def render(self) -> str:
        if not self.identities():
            return "Daily allowance: this run made no AI calls"
        parts = []
        for identity, actions in self.report().items():
            said = ", ".join(f"{noun} {a['used']} used, left: {a['left']}" for noun, a in actions.items())
            parts.append(f"{identity} ({said})")
        return "Daily allowance (what Canvas said is left; unknown: Canvas said nothing): " + "; ".join(parts)


@dataclass(slots=True)
class Estimate:
    """What a run is expected to cost: creates and AI calls per identity, within the budgets."""

    creates: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    create_limit: int | None = None
    call_limit: int | None = None

    def add(self, identity: str, creates: int, posts: int) -> None:
        self.creates[identity] += creates
        self.calls[identity] += creates + posts

    def least_used(self, pool: Iterable[str]) -> str:
        """The identity of ``pool`` with the fewest creates so far (the first on a tie)."""
        return min(pool, key=lambda identity: self.creates[identity])

    @property
    def total_creates(self) -> int:
        total = sum(self.creates.values())
        return total if self.create_limit is None else min(total, self.create_limit)

    @property
    def total_calls(self) -> int:
        total = sum(self.calls.values())
        return total if self.call_limit is None else min(total, self.call_limit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "creates": self.total_creates,
            "llm_calls": self.total_calls,
            "max_creates": self.create_limit,
            "max_llm_calls": self.call_limit,
            "by_identity": {
                i: {"creates": self.creates[i], "llm_calls": self.calls[i]} for i in sorted(self.calls) if self.calls[i]
            },
        }

    def render(self) -> str:
        def limit(value: int | None) -> str:
            return "no limit" if value is None else str(value)

        each = ", ".join(
            f"{i} {self.creates[i]} creates/{self.calls[i]} AI calls" for i in sorted(self.calls) if self.calls[i]
        )
        return (
            f"Cost estimate: about {self.total_creates} creates and {self.total_calls} AI calls "
            f"(--max-creates {limit(self.create_limit)}, --max-llm-calls {limit(self.call_limit)}); by identity: "
            + (each or "none")
        )
