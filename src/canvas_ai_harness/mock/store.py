"""The conversation store: ids, transcripts, and each user's active one (``canvas.lifecycle``).

Memory stays bounded in count and in bytes: past ``max_conversations`` conversations, or past
``max_stored_bytes`` of stored conversations, the store evicts completed conversations first
(the longest-closed first), then the oldest active ones. A conversation's bytes are an estimate
of what it holds in memory: each message's text (``sys.getsizeof``, so a wide character counts
as Python stores it; the store keeps it as JSON, of about that size) plus a fixed overhead per
message and per conversation, measured with ``bench/mock_memory.py``.

A transcript is kept as a tuple of records, each an exact tuple of atomic values ``(id, JSON)``:
the message encoded once, when stored, as ``{"role": ..., "text": ...}`` (and only decoded to
give it back). The
garbage collector stops tracking such tuples, so a full collection walks one object per
conversation rather than one per message (at 100,000 stored conversations, full collections
over a million messages were the postMessage p99). A conversation is stored the same way, as
an exact tuple (``Row``) replaced whole when it changes; ``get()``, ``active_for()``, ``add()``
and ``snapshot()`` hand out ``Conversation`` objects built from it, short-lived copies that
``close()`` and ``append()`` update along with the store. So the store's long-lived heap holds
no object the collector tracks but its indexes. ``Conversation.messages`` gives the transcript
as ``Message`` values.

``fits()`` tells whether a transcript may grow by some messages
without passing ``max_transcript_bytes``. Every method takes the store's lock, so the store is
safe under threads as well as under one event loop.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from canvas_ai_harness.budgets import STORED_BYTES, TRANSCRIPT_BYTES
from canvas_ai_harness.canvas.lifecycle import ACTIVE, Conversations

__all__ = ["ACTIVE", "Conversation", "ConversationStore", "Message", "Record", "message_bytes"]

# Measured with bench/mock_memory.py (RSS per 10-message conversation, text aside): the record
# tuple, its id, the JSON's keys, the transcript's slot; the conversation's row, its dict entries
# and datetimes.
MESSAGE_OVERHEAD = 100
CONVERSATION_OVERHEAD = 500


class Message(NamedTuple):
    """One message of a transcript; immutable (``_replace`` makes a changed copy)."""

    id: int
    role: str  # "User" or "Assistant"
    text: str


# (id, {"role": ..., "text": ...} as JSON): an exact tuple the collector need not track.
Record = tuple[int, bytes]


def encode_message(role: str, text: str) -> bytes:
    """``{"role": role, "text": text}`` as compact JSON, the same bytes ``json.dumps`` would give.

    Put together from the encoded strings: orjson's own result keeps a buffer of at least 4 KiB
    (``bench/mock_memory.py``: 33 KB per stored conversation), a concatenation is its exact size.
    """
    return b'{"role":' + orjson.dumps(role) + b',"text":' + orjson.dumps(text) + b"}"


@dataclass(slots=True)
class Conversation:
    id: int
    user_id: int
    course_id: int
    experience_id: int
    llm_conversation_id: str
    created_at: datetime
    updated_at: datetime
    records: tuple[Record, ...] = ()
    workflow_state: str = ACTIVE
    covered: int = 0  # learning objectives covered so far
    size: int = 0  # estimated bytes held (message_bytes of each message, plus the conversation's overhead)

    @property
    def active(self) -> bool:
        return self.workflow_state == ACTIVE

    @property
    def messages(self) -> list[Message]:
        """The transcript, oldest first (a copy: the store alone changes it)."""
        messages = []
        for mid, encoded in self.records:
            body = orjson.loads(encoded)
            messages.append(Message(mid, body["role"], body["text"]))
        return messages


# A conversation as the store keeps it: Conversation's fields, in order, in an exact tuple.
Row = tuple[int, int, int, int, str, datetime, datetime, tuple[Record, ...], str, int, int]


def _row(c: Conversation) -> Row:
    return (
        c.id,
        c.user_id,
        c.course_id,
        c.experience_id,
        c.llm_conversation_id,
        c.created_at,
        c.updated_at,
        c.records,
        c.workflow_state,
        c.covered,
        c.size,
    )


def message_bytes(messages: Iterable[Message]) -> int:
    """The bytes ``messages`` hold in memory, as the store counts them."""
    total = 0
    for m in messages:
        total += sys.getsizeof(m.text) + MESSAGE_OVERHEAD
    return total


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
            self._by_id: dict[int, Row] = {}
            self._active: Conversations[int, int, int] = Conversations()
            self._closed: OrderedDict[int, None] = OrderedDict()
            self._next_id = 1
            self._message_ids = itertools.count(1)  # next() is atomic: no lock per message
            self._shared: dict[tuple[str, str], bytes] = {}  # JSON of texts every conversation starts with
            self.evicted = 0
            self.stored_bytes = 0

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def active_count(self) -> int:
        return len(self._active)  # conversations that are some user's active one

    def get(self, conversation_id: int) -> Conversation | None:
        row = self._by_id.get(conversation_id)
        return None if row is None else Conversation(*row)

    def active_for(self, user_id: int, experience_id: int) -> Conversation | None:
        with self._lock:
            cid = self._active.active(user_id, experience_id)
            row = None if cid is None else self._by_id.get(cid)
            return None if row is None else Conversation(*row)

    def _refresh(self, conversation: Conversation) -> None:
        """Bring a copy up to date with its stored row (another copy may have changed it; under the lock)."""
        row = self._by_id.get(conversation.id)
        if row is not None:
            conversation.updated_at, conversation.records, conversation.workflow_state = row[6], row[7], row[8]
            conversation.covered, conversation.size = row[9], row[10]

    def _store(self, conversation: Conversation) -> None:
        """Replace the stored row of ``conversation``, if it is still stored (the caller holds the lock)."""
        if conversation.id in self._by_id:
            self._by_id[conversation.id] = _row(conversation)

    def close(self, conversation: Conversation, state: str, now: datetime) -> None:
        """Mark ``conversation`` closed (``completed`` or ``ended``); closing twice is harmless."""
        with self._lock:
            self._refresh(conversation)
            self._active.ended(conversation.user_id, conversation.experience_id, conversation.id)
            if conversation.workflow_state != state:
                conversation.workflow_state = state
                conversation.updated_at = now
            if conversation.id in self._by_id:
                self._store(conversation)
                self._closed[conversation.id] = None

    def new_message(self, role: str, text: str) -> Message:
        return Message(next(self._message_ids), role, text)

    @staticmethod
    def _records(messages: Iterable[Message]) -> tuple[Record, ...]:
        return tuple([(m.id, encode_message(m.role, m.text)) for m in messages])

    def _opening_records(self, messages: Iterable[Message]) -> tuple[Record, ...]:
        """Records of a new transcript: its texts (the hidden prompt, the first question) are one per
        experience, so their JSON is encoded once and shared, as the texts are."""
        records = []
        for m in messages:
            key = (m.role, m.text)
            encoded = self._shared.get(key)
            if encoded is None:
                encoded = encode_message(m.role, m.text)
                if len(self._shared) < 1_024:  # experiences are few; a bound all the same
                    self._shared[key] = encoded
            records.append((m.id, encoded))
        return tuple(records)

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
        records = self._opening_records(messages)
        with self._lock:
            conversation = Conversation(
                id=self._next_id,
                user_id=user_id,
                course_id=course_id,
                experience_id=experience_id,
                llm_conversation_id=llm_conversation_id,
                created_at=now,
                updated_at=now,
                records=records,
                size=CONVERSATION_OVERHEAD + message_bytes(messages),
            )
            self._next_id += 1
            while self._by_id and (
                len(self._by_id) >= self.max_conversations
                or self.stored_bytes + conversation.size > self.max_stored_bytes
            ):
                self._evict_one()
            self._by_id[conversation.id] = _row(conversation)
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
        victim = Conversation(*self._by_id.pop(cid))
        self._active.ended(victim.user_id, victim.experience_id, victim.id)
        self.stored_bytes -= victim.size
        self.evicted += 1
        return True

    def fits(self, conversation: Conversation, messages: list[Message]) -> bool:
        """Whether ``conversation`` may take ``messages`` without passing ``max_transcript_bytes``."""
        return conversation.size + message_bytes(messages) <= self.max_transcript_bytes

    def append(self, conversation: Conversation, messages: list[Message], covered: int, now: datetime) -> None:
        """Add ``messages`` to ``conversation`` (the caller checked ``fits``); evict others to stay in budget."""
        records = self._records(messages)
        with self._lock:
            self._refresh(conversation)
            self._append(conversation, records, message_bytes(messages), covered, now)

    def append_if_fits(self, conversation: Conversation, messages: list[Message], covered: int, now: datetime) -> bool:
        """``append`` when ``fits``; return whether it did (the size counted once)."""
        grown = message_bytes(messages)
        records = self._records(messages)
        with self._lock:
            self._refresh(conversation)
            if conversation.size + grown > self.max_transcript_bytes:
                return False
            self._append(conversation, records, grown, covered, now)
        return True

    def _append(
        self, conversation: Conversation, records: tuple[Record, ...], grown: int, covered: int, now: datetime
    ) -> None:
        """``append`` itself, for a caller that holds the lock and refreshed ``conversation``."""
        while self.stored_bytes + grown > self.max_stored_bytes and self._evict_one(keep=conversation.id):
            pass
        conversation.size += grown
        if conversation.id in self._by_id:
            self.stored_bytes += grown
        conversation.records += records
        conversation.covered = max(conversation.covered, covered)
        conversation.updated_at = now
        self._store(conversation)

    def snapshot(self) -> list[Conversation]:
        with self._lock:
            return [Conversation(*row) for row in self._by_id.values()]
