"""ConversationStore against a model made of plain dicts, driven by a Hypothesis state machine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from canvas_ai_harness.mock.store import (
    ACTIVE,
    CONVERSATION_OVERHEAD,
    Conversation,
    ConversationStore,
    message_bytes,
)

USERS = st.integers(1, 3)
EXPERIENCES = st.integers(7, 8)
STATES = st.sampled_from(["completed", "ended"])
START = datetime(2026, 2, 15, tzinfo=UTC)


@dataclass
class Model:
    """What the store should hold for one conversation."""

    user: int
    experience: int
    state: str = ACTIVE
    messages: int = 0
    covered: int = 0


class StoreMachine(RuleBasedStateMachine):
    """Every operation the service performs, checked against the model after each step."""

    conversations = Bundle("conversations")

    @initialize(max_conversations=st.integers(1, 5))
    def start(self, max_conversations: int) -> None:
        self.store = ConversationStore(max_conversations)
        self.limit = max_conversations
        self.model: dict[int, Model] = {}
        self.closed_order: list[int] = []  # stored closed ids, longest-closed first
        self.evicted = 0
        self.now = START

    def _tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def _active_id(self, user: int, experience: int) -> int | None:
        ids = [i for i, m in self.model.items() if (m.user, m.experience) == (user, experience) and m.state == ACTIVE]
        assert len(ids) <= 1
        return ids[0] if ids else None

    def _close_in_model(self, cid: int, state: str) -> None:
        entry = self.model.get(cid)
        if entry is None:
            return
        entry.state = state
        if cid not in self.closed_order:
            self.closed_order.append(cid)

    def _add(self, user: int, experience: int) -> Conversation:
        conversation = self.store.add(user, 101, experience, f"llm-{user}", [], self._tick())
        if len(self.model) >= self.limit:
            victim = self.closed_order.pop(0) if self.closed_order else min(self.model)
            del self.model[victim]
            self.evicted += 1
        assert conversation.id not in self.model
        self.model[conversation.id] = Model(user, experience)
        return conversation

    @rule(target=conversations, user=USERS, experience=EXPERIENCES, state=STATES)
    def create(self, user: int, experience: int, state: str) -> Conversation:
        """What create does: close the caller's active conversation, then add a new one."""
        previous = self._active_id(user, experience)
        closed = self.store.active_for(user, experience)
        assert (closed.id if closed else None) == previous
        if closed is not None:
            self.store.close(closed, state, self._tick())
        if previous is not None:
            self._close_in_model(previous, state)
        return self._add(user, experience)

    @rule(target=conversations, user=USERS, experience=EXPERIENCES)
    def add_where_none_is_active(self, user: int, experience: int) -> Conversation | None:
        """``add`` alone, which is only allowed when the user has no active conversation there."""
        if self._active_id(user, experience) is not None:
            return None
        return self._add(user, experience)

    @rule(conversation=conversations, state=STATES)
    def close(self, conversation: Conversation | None, state: str) -> None:
        if conversation is None:
            return
        self.store.close(conversation, state, self._tick())
        self._close_in_model(conversation.id, state)

    @rule(conversation=conversations, covered=st.integers(0, 4), count=st.integers(1, 2))
    def append(self, conversation: Conversation | None, covered: int, count: int) -> None:
        if conversation is None or conversation.id not in self.model:
            return
        messages = [self.store.new_message("User", f"turn {i}") for i in range(count)]
        self.store.append(conversation, messages, covered, self._tick())
        entry = self.model[conversation.id]
        entry.messages += count
        entry.covered = max(entry.covered, covered)

    @invariant()
    def matches_the_model(self) -> None:
        stored = {c.id: c for c in self.store.snapshot()}
        assert set(stored) == set(self.model)
        for cid, entry in self.model.items():
            c = stored[cid]
            assert (c.user_id, c.experience_id, c.workflow_state) == (entry.user, entry.experience, entry.state)
            assert (len(c.messages), c.covered) == (entry.messages, entry.covered)
            assert self.store.get(cid) == c  # copies of one stored row
        assert self.store.evicted == self.evicted

    @invariant()
    def stays_within_its_limit(self) -> None:
        assert len(self.store) <= self.limit

    @invariant()
    def counts_the_bytes_it_holds(self) -> None:
        stored = self.store.snapshot()
        assert self.store.stored_bytes == sum(c.size for c in stored)
        for c in stored:
            assert c.size == CONVERSATION_OVERHEAD + message_bytes(c.messages)

    @invariant()
    def at_most_one_active_per_user_and_experience(self) -> None:
        keys = [(c.user_id, c.experience_id) for c in self.store.snapshot() if c.active]
        assert len(keys) == len(set(keys))
        assert self.store.active_count == len(keys)
        for user in (1, 2, 3):
            for experience in (7, 8):
                found = self.store.active_for(user, experience)
                assert (found.id if found else None) == self._active_id(user, experience)


StoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestConversationStoreAgainstModel = StoreMachine.TestCase


def test_completed_conversations_are_evicted_before_active_ones() -> None:
    store = ConversationStore(max_conversations=3)
    old_active = store.add(1, 101, 7, "a", [], START)
    closed_later = store.add(2, 101, 7, "b", [], START)
    closed_first = store.add(3, 101, 7, "c", [], START)
    store.close(closed_first, "completed", START)
    store.close(closed_later, "completed", START)
    store.add(4, 101, 7, "d", [], START)
    assert store.get(closed_first.id) is None
    store.add(5, 101, 7, "e", [], START)
    assert store.get(closed_later.id) is None
    store.add(6, 101, 7, "f", [], START)
    assert store.get(old_active.id) is None and store.active_for(1, 7) is None
    assert (len(store), store.evicted) == (3, 3)


def test_store_needs_room_for_one_conversation() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ConversationStore(max_conversations=0)
