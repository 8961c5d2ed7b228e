"""Conversations per identity and experience: the one state machine, and who may reach which.

Canvas keeps at most one active conversation per user and experience. Its events:

- **opening** (a create reached Canvas): the caller's active conversation is closed *before*
  Canvas calls its AI, so a create answered 503 has still closed it;
- **opened**: the create saved a conversation, now the caller's active one (an AI that returned
  no id leaves none);
- **posted**: a message changes the transcript, never the state;
- **ended**: destroy closes the conversation (it is not deleted).

``Conversations`` tracks it for any owner, experience and id types: the mock's store (users and
conversations it owns), the contract ledger (identities and ids Canvas answered), the load
ledger and the proxy (what a client did). ``after_create`` says what a create's answer did.
``refusal`` says what Canvas answers a caller who asks for a conversation it may not reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from canvas_ai_harness.canvas import answers, bodies, routes

__all__ = [
    "ACTIVE",
    "CLOSED_BY_CREATE",
    "CLOSED_BY_DESTROY",
    "Conversations",
    "Refusal",
    "create_closed_previous",
    "may_reach",
    "refusal",
    "says_closed",
]

ACTIVE: Final = "active"
CLOSED_BY_CREATE: Final = "create"
CLOSED_BY_DESTROY: Final = "destroy"

Owner = TypeVar("Owner")  # who owns conversations: a user id, an identity, a client
Exp = TypeVar("Exp")  # an experience id
Cid = TypeVar("Cid")  # a conversation id


def create_closed_previous(kind: str) -> bool | None:
    """Whether a create answered with ``kind`` (``canvas.answers``) closed the caller's active one.

    ``True`` when Canvas reached the point where it closes (it saved a conversation, or its AI
    failed after the close); ``False`` when it refused before (throttling, the daily limit, a
    404, a 401); ``None`` when no one can tell (no answer, a server error).
    """
    if kind in (answers.OK, answers.AI_UNAVAILABLE):
        return True
    if kind == answers.CANVAS_ERROR:
        return None
    return False


@dataclass(slots=True)
class Conversations(Generic[Owner, Exp, Cid]):
    """Each owner's active conversation per experience, where known. Not locked: callers lock."""

    _active: dict[tuple[Owner, Exp], Cid | None] = field(default_factory=dict)

    def knows(self, owner: Owner, experience: Exp) -> bool:
        """Whether the active conversation of ``owner`` here is known (created or ended here)."""
        return (owner, experience) in self._active

    def active(self, owner: Owner, experience: Exp) -> Cid | None:
        return self._active.get((owner, experience))

    def opening(self, owner: Owner, experience: Exp) -> Cid | None:
        """A create reached Canvas: the active conversation (returned, if known) is closed."""
        previous = self._active.get((owner, experience))
        self._active[(owner, experience)] = None
        return previous

    def opened(self, owner: Owner, experience: Exp, conversation: Cid | None) -> None:
        """The create saved ``conversation`` (``None``: the AI returned no id; nothing is active)."""
        self._active[(owner, experience)] = conversation

    def created(self, owner: Owner, experience: Exp, conversation: Cid | None) -> Cid | None:
        """A whole create seen from outside: ``opening`` then ``opened``; returns the closed one."""
        previous = self.opening(owner, experience)
        self.opened(owner, experience, conversation)
        return previous

    def after_create(self, kind: str, owner: Owner, experience: Exp, conversation: Cid | None) -> Cid | None:
        """Apply a create answered with ``kind``; returns the conversation it closed, if any."""
        if create_closed_previous(kind) is not True:
            return None
        return self.created(owner, experience, conversation if kind == answers.OK else None)

    def ended(self, owner: Owner, experience: Exp, conversation: Cid) -> bool:
        """Destroy closed ``conversation``; ``True`` when it was the owner's active one."""
        if self._active.get((owner, experience)) != conversation:
            return False
        self._active[(owner, experience)] = None
        return True

    def forget(self, owner: Owner, experience: Exp) -> None:
        """Know nothing about this owner's active conversation here (a record was evicted)."""
        self._active.pop((owner, experience), None)

    def __len__(self) -> int:
        return sum(1 for cid in self._active.values() if cid is not None)


def may_reach(*, manager: bool, own: bool, active: bool) -> bool:
    """Teachers reach any conversation of the experience, in any state; others their own active ones."""
    return manager or (own and active)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What Canvas answers a caller who may not have the conversation it asked for."""

    status: int
    body: Any
    reason: str  # "other-experience", "not-reachable" or "show-by-student"


def refusal(operation_id: str, *, same_experience: bool, manager: bool, own: bool, active: bool) -> Refusal | None:
    """Canvas's answer to show, post_message or destroy of a conversation that exists, or ``None``.

    A conversation of another experience, another student's, or the caller's own closed one is
    404 ``{"error": "Resource Not Found"}``; show by a student of its own active one is 403.
    """
    if not same_experience:
        return Refusal(404, bodies.NOT_FOUND, "other-experience")
    if not may_reach(manager=manager, own=own, active=active):
        return Refusal(404, bodies.NOT_FOUND, "not-reachable")
    if operation_id == routes.SHOW and not manager:
        return Refusal(403, bodies.FORBIDDEN, "show-by-student")
    return None


def says_closed(operation_id: str, status: int) -> bool:
    """Whether Canvas's answer to an owner's post_message or destroy says its conversation is closed.

    What Canvas answers a student about its own closed conversation is ``refusal``'s; a client
    that tracks its conversations (the load suite, clean-up) reads the answer through this.
    """
    refused = refusal(operation_id, same_experience=True, manager=False, own=True, active=False)
    return refused is not None and status == refused.status
