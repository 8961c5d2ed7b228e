"""What the run knows about the conversations it has touched, built only from what Canvas answered.

The rulebook reads the ledger to know what Canvas must answer next (the caller's active
conversation, a closed conversation's 404, the transcript a post_message must extend) and
updates it after each exchange. The ledger is also the list of conversations the run created,
which cleanup ends at the close of the run.

Knowledge about a caller's active conversation is definite only once the run has created or
ended one for that caller and experience; before that the caller may have had one already, and
no rule about it is asserted. This assumes the target's test accounts are not used by anyone
else during the run (README, "Contract suite").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from canvas_ai_harness.canvas import answers, lifecycle

__all__ = ["ConversationRecord", "Ledger"]

Key = tuple[str, str]  # (identity, experience id)


@dataclass(slots=True)
class ConversationRecord:
    """One conversation the run created."""

    id: int
    owner: str  # the identity that created it
    course_ref: str
    experience_id: str
    closed_by: str | None = None  # "create" or "destroy" once Canvas's rules say it is closed
    closed_confirmed: bool = False  # Canvas's own answers showed it closed
    messages: list[tuple[str, Any]] | None = None  # (role, text), as last seen
    covered: frozenset[str] = frozenset()
    current: int = 0

    @property
    def active(self) -> bool:
        return self.closed_by is None


@dataclass(slots=True)
class Ledger:
    """The conversations of this run, and each caller's active one where it is known."""

    conversations: dict[int, ConversationRecord] = field(default_factory=dict)
    _active: lifecycle.Conversations[str, str, int] = field(default_factory=lifecycle.Conversations)
    _closures: dict[Key, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, conversation_id: int) -> ConversationRecord | None:
        return self.conversations.get(conversation_id)

    def knows_active(self, identity: str, experience_id: str) -> bool:
        return self._active.knows(identity, experience_id)

    def active_id(self, identity: str, experience_id: str) -> int | None:
        """The caller's active conversation if the ledger knows it (check ``knows_active`` first)."""
        return self._active.active(identity, experience_id)

    def last_closure(self, identity: str, experience_id: str) -> str | None:
        """How the caller's last conversation here was closed ("create" or "destroy"), if the run closed one."""
        return self._closures.get((identity, experience_id))

    def active_record(self, identity: str, experience_id: str) -> ConversationRecord | None:
        cid = self._active.active(identity, experience_id)
        return None if cid is None else self.conversations.get(cid)

    # -- events Canvas answered ---------------------------------------------------------------
    def after_create(
        self, kind: str, identity: str, course_ref: str, experience_id: str, conversation_id: int | None
    ) -> None:
        """A create answered with ``kind`` (``canvas.answers``) and ``conversation_id``: apply what Canvas did."""
        cid = conversation_id if kind == answers.OK else None
        with self._lock:
            if lifecycle.create_closed_previous(kind) is None:  # no telling what Canvas did: assert nothing
                self._active.forget(identity, experience_id)
                return
            closed = self._active.after_create(kind, identity, experience_id, cid)
            self._closed(closed, identity, experience_id, lifecycle.CLOSED_BY_CREATE)
            if cid is not None and self._active.active(identity, experience_id) == cid:
                self.conversations[cid] = ConversationRecord(cid, identity, course_ref, experience_id)

    def created(self, identity: str, course_ref: str, experience_id: str, conversation_id: int | None) -> None:
        """A create answered 201: the previous active conversation is closed, the new one (if saved) is active."""
        self.after_create(answers.OK, identity, course_ref, experience_id, conversation_id)

    def destroyed(self, conversation_id: int) -> None:
        with self._lock:
            record = self.conversations.get(conversation_id)
            if record is None:
                return
            if record.closed_by is None:
                record.closed_by = lifecycle.CLOSED_BY_DESTROY
            record.closed_confirmed = True
            if self._active.ended(record.owner, record.experience_id, conversation_id):
                self._closures[(record.owner, record.experience_id)] = lifecycle.CLOSED_BY_DESTROY

    def confirmed_closed(self, conversation_id: int) -> None:
        record = self.conversations.get(conversation_id)
        if record is not None and record.closed_by is not None:
            record.closed_confirmed = True

    def seen(self, conversation_id: int, messages: list[tuple[str, Any]], progress: Any) -> None:
        """Remember the transcript and progress Canvas last returned for a conversation."""
        record = self.conversations.get(conversation_id)
        if record is None:
            return
        record.messages = messages
        if isinstance(progress, dict):
            record.covered = covered_objectives(progress)
            current = progress.get("current")
            if isinstance(current, int):
                record.current = current

    def to_close(self) -> list[ConversationRecord]:
        """Every conversation the run created that Canvas has not shown to be closed."""
        return [r for r in self.conversations.values() if not r.closed_confirmed]

    def _closed(self, conversation_id: int | None, identity: str, experience_id: str, cause: str) -> None:
        record = None if conversation_id is None else self.conversations.get(conversation_id)
        if record is not None and record.closed_by is None:
            record.closed_by = cause
            self._closures[(identity, experience_id)] = cause


def covered_objectives(progress: dict[str, Any]) -> frozenset[str]:
    objectives = progress.get("objectives")
    if not isinstance(objectives, list):
        return frozenset()
    return frozenset(
        str(o.get("objective")) for o in objectives if isinstance(o, dict) and o.get("status") == "covered"
    )
