"""The conversation store: ids, transcripts, and each user's active one (``canvas.lifecycle``).

Memory stays bounded: past ``max_conversations`` the store evicts completed conversations
first (the longest-closed first), then the oldest active ones. Every method takes the store's
lock, so the store is safe under threads as well as under one event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from canvas_ai_harness.canvas.lifecycle import ACTIVE, Conversations

__all__ = ["ACTIVE", "Conversation", "ConversationStore", "Message"]


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

    @property
    def active(self) -> bool:
        return self.workflow_state == ACTIVE


class ConversationStore:
    """Stored conversations, indexed by id and by (user, experience) for the active one."""

    def __init__(self, max_conversations: int = 200_000) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        self.max_conversations = max_conversations
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
            )
            self._next_id += 1
            while len(self._by_id) >= self.max_conversations:
                self._evict_one()
            self._by_id[conversation.id] = conversation
            self._active.opened(user_id, experience_id, conversation.id)
            return conversation

    def _evict_one(self) -> None:
        if self._closed:
            cid, _ = self._closed.popitem(last=False)
            self._by_id.pop(cid, None)
        else:
            cid = next(iter(self._by_id))
            victim = self._by_id.pop(cid)
            self._active.ended(victim.user_id, victim.experience_id, victim.id)
        self.evicted += 1

    def append(self, conversation: Conversation, messages: list[Message], covered: int, now: datetime) -> None:
        with self._lock:
            conversation.messages.extend(messages)
            conversation.covered = max(conversation.covered, covered)
            conversation.updated_at = now

    def snapshot(self) -> list[Conversation]:
        with self._lock:
            return list(self._by_id.values())
