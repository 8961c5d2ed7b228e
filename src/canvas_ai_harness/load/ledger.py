"""Which conversations this process's users opened and may have left open, so clean-up can end them.

Canvas keeps one active conversation per user and experience, so the ledger keeps one entry per
identity: the conversation this run created and has not seen closed, and whether a create broke
off mid-flight (then only Canvas knows, and clean-up asks it). Conversations a student already
had before the run are not the run's to end: they are never recorded as opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canvas_ai_harness.canvas import answers, lifecycle
from canvas_ai_harness.load.identities import Identity

__all__ = ["Ledger", "OpenConversation"]


@dataclass(slots=True)
class OpenConversation:
    identity: Identity
    conversation: int | None = None  # a conversation this run created and has not seen closed
    uncertain: bool = False  # a create was in flight when it broke off: ask Canvas at clean-up


@dataclass(slots=True)
class Ledger:
    """Conversations this process's users opened and may have left open, by identity."""

    entries: dict[str, OpenConversation] = field(default_factory=dict)

    def entry(self, identity: Identity) -> OpenConversation:
        found = self.entries.get(identity.key)
        if found is None:
            found = self.entries[identity.key] = OpenConversation(identity)
        return found

    def creating(self, identity: Identity) -> None:
        self.entry(identity).uncertain = True

    def created(self, identity: Identity, conversation: int | None) -> None:
        entry = self.entry(identity)
        entry.conversation, entry.uncertain = conversation, False

    def settled(self, identity: Identity) -> None:
        """A create was refused before Canvas acted on it (throttled): nothing changed."""
        self.entry(identity).uncertain = False

    def after_create(self, identity: Identity, kind: str, conversation: int | None) -> None:
        """A create answered with ``kind`` (``canvas.answers``): what ``canvas.lifecycle`` says it did.

        Saved or failed at the AI (which Canvas calls after closing the old one): the run's open
        conversation is the new one, or none. Refused before Canvas acted: nothing changed. No
        telling (no answer, a server error): clean-up asks Canvas.
        """
        closed = lifecycle.create_closed_previous(kind)
        if closed is None:
            return
        if closed:
            self.created(identity, conversation if kind == answers.OK else None)
        else:
            self.settled(identity)

    def closed(self, identity: Identity, conversation: int) -> None:
        entry = self.entry(identity)
        if entry.conversation == conversation:
            entry.conversation = None

    def active_is(self, identity: Identity, conversation: int | None) -> None:
        """Canvas says the identity's active conversation is ``conversation`` (``None``: it has none)."""
        entry = self.entry(identity)
        if conversation is None:
            entry.conversation, entry.uncertain = None, False
        elif entry.uncertain:
            entry.conversation, entry.uncertain = conversation, False  # the create that broke off did open it
        elif entry.conversation != conversation:
            entry.conversation = None  # ours was closed; the active one was there before the run

    def to_close(self) -> list[OpenConversation]:
        return [e for e in self.entries.values() if e.conversation is not None or e.uncertain]
