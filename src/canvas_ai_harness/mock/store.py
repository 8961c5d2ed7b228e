"""The conversation store: ids, transcripts, and each user's active one (``canvas.lifecycle``).

Memory stays bounded in count and in bytes: past ``max_conversations`` conversations, or past
``max_stored_bytes`` of stored conversations, the store evicts completed conversations first
(the longest-closed first), then the oldest active ones. A conversation's bytes are an estimate
of what it holds in memory: each message's text (``sys.getsizeof``, so a wide character counts
as Python stores it) plus a fixed overhead per message and per conversation, measured with
``bench/mock_memory.py``. ``fits()`` tells whether a transcript may grow by some messages
without passing ``max_transcript_bytes``. Every method takes the store's lock, so the store is
safe under threads as well as under one event loop.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from canvas_ai_harness.budgets import STORED_BYTES, TRANSCRIPT_BYTES
from canvas_ai_harness.canvas.lifecycle import ACTIVE, Conversations

__all__ = ["ACTIVE", "Conversation", "ConversationStore", "Message", "message_bytes"]

# Measured with bench/mock_memory.py (RSS per 10-message conversation, text aside): the
# Message object, its id and list slot; the Conversation, its dict entries and datetimes.
MESSAGE_OVERHEAD = 100
CONVERSATION_OVERHEAD = 600


@dataclass(slots=True)
class Message:
    id: int
    role: str  # "User" or "Assistant"
    text: str


@dataclass(slots=True)
class Conversation:
    id: int
    user_id: int
    course_id: int
    experience_id: int
    llm_conversation_id: str
    created_at: datetime
    updated_at: datetime
    messages: list[Message] = field(default_factory=list)
    workflow_state: str = ACTIVE
    covered: int = 0  # learning objectives covered so far
    size: int = 0  # estimated bytes held (message_bytes of each message, plus the conversation's overhead)

    @property
    def active(self) -> bool:
        return self.workflow_state == ACTIVE


def message_bytes(messages: list[Message]) -> int:
    """The bytes ``messages`` hold in memory, as the store counts them."""
    return sum(sys.getsizeof(m.text) + MESSAGE_OVERHEAD for m in messages)


class ConversationStore:
    """Stored conversations, indexed by id and by (user, experience) for the active one."""

    def __init__(
        self,
        max_conversations: int = 200_000,
        max_stored_bytes: int = STORED_BYTES,
        max_transcript_bytes: int = TRANSCRIPT_BYTES,
    ) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        if max_transcript_bytes < 1 or max_stored_bytes < max_transcript_bytes:
            raise ValueError("max_transcript_bytes must be at least 1 and at most max_stored_bytes")
        self.max_conversations = max_conversations
        self.max_stored_bytes = max_stored_bytes
        self.max_transcript_bytes = max_transcript_bytes
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_id: dict[int, Conversation] = {}
            self._active: Conversations[int, int, int] = Conversations()
            self._closed: OrderedDict[int, None] = OrderedDict()
            self._next_id = 1
            self._next_message_id = 1
            self.evicted = 0
            self.stored_bytes = 0

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def active_count(self) -> int:
        return len(self._active)  # conversations that are some user's active one

    def get(self, conversation_id: int) -> Conversation | None:
        return self._by_id.get(conversation_id)

    def active_for(self, user_id: int, experience_id: int) -> Conversation | None:
        with self._lock:
            cid = self._active.active(user_id, experience_id)
            return None if cid is None else self._by_id.get(cid)

    def close(self, conversation: Conversation, state: str, now: datetime) -> None:
        """Mark ``conversation`` closed (``completed`` or ``ended``); closing twice is harmless."""
        with self._lock:
            self._active.ended(conversation.user_id, conversation.experience_id, conversation.id)
            if conversation.workflow_state != state:
                conversation.workflow_state = state
                conversation.updated_at = now
            if conversation.id in self._by_id:
                self._closed[conversation.id] = None

    def new_message(self, role: str, text: str) -> Message:
        with self._lock:
            mid = self._next_message_id
            self._next_message_id += 1
        return Message(mid, role, text)

    def add(
        self,
        user_id: int,
        course_id: int,
        experience_id: int,
        llm_conversation_id: str,
        messages: list[Message],
        now: datetime,
    ) -> Conversation:
        """Store a new active conversation; the caller has closed any previous active one."""
        with self._lock:
            conversation = Conversation(
                id=self._next_id,
                user_id=user_id,
                course_id=course_id,
                experience_id=experience_id,
                llm_conversation_id=llm_conversation_id,
                created_at=now,
                updated_at=now,
                messages=messages,
                size=CONVERSATION_OVERHEAD + message_bytes(messages),
            )
            self._next_id += 1
            while self._by_id and (
                len(self._by_id) >= self.max_conversations
                or self.stored_bytes + conversation.size > self.max_stored_bytes
            ):
                self._evict_one()
            self._by_id[conversation.id] = conversation
            self.stored_bytes += conversation.size
            self._active.opened(user_id, experience_id, conversation.id)
            return conversation

    def _evict_one(self, keep: int | None = None) -> bool:
        """Evict one conversation other than ``keep``, completed ones first; return whether there was one."""
        cid = next((c for c in self._closed if c != keep), None)
        if cid is not None:
            del self._closed[cid]
        else:
            cid = next((c for c in self._by_id if c != keep), None)
            if cid is None:
                return False
        victim = self._by_id.pop(cid)
        self._active.ended(victim.user_id, victim.experience_id, victim.id)
        self.stored_bytes -= victim.size
        self.evicted += 1
        return True

    def fits(self, conversation: Conversation, messages: list[Message]) -> bool:
        """Whether ``conversation`` may take ``messages`` without passing ``max_transcript_bytes``."""
        return conversation.size + message_bytes(messages) <= self.max_transcript_bytes

    def append(self, conversation: Conversation, messages: list[Message], covered: int, now: datetime) -> None:
        """Add ``messages`` to ``conversation`` (the caller checked ``fits``); evict others to stay in budget."""
        with self._lock:
            grown = message_bytes(messages)
            while self.stored_bytes + grown > self.max_stored_bytes and self._evict_one(keep=conversation.id):
                pass
            conversation.size += grown
            if conversation.id in self._by_id:
                self.stored_bytes += grown
            conversation.messages.extend(messages)
            conversation.covered = max(conversation.covered, covered)
            conversation.updated_at = now

    def snapshot(self) -> list[Conversation]:
        with self._lock:
            return list(self._by_id.values())
