"""The mock's storage is bounded in bytes: stored conversations, one transcript, students added by the control route.

A message's length is Canvas's business only in profile ``ended`` (4000 characters, 422); in
profile ``completed`` Canvas takes any length, so the mock's bounds are its own: the body cap
(``max_body_bytes``, 413), the transcript budget (``max_transcript_bytes``, 413) and the store's
budget (``max_stored_bytes``, eviction, completed conversations first).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from canvas_ai_harness.mock import MockConfig
from canvas_ai_harness.mock.store import CONVERSATION_OVERHEAD, ConversationStore, message_bytes
from fixtures.custom_servers import StartCanvas
from fixtures.services import InProcess

KIB = 1024
TOO_LARGE = {"errors": [{"message": "Request entity too large."}]}


def _held(service: InProcess) -> int:
    """Characters of text the store holds: what the byte budget must bound."""
    return sum(len(m.text) for c in service.service.store.snapshot() for m in c.messages)


def test_closed_conversations_with_long_messages_are_evicted_by_bytes(in_process: Callable[..., InProcess]) -> None:
    mock = in_process(max_stored_bytes=2 * 2**20, max_transcript_bytes=2**20)
    message = "x" * (256 * KIB)
    for _ in range(40):  # 40 conversations of one 256 KiB message: 10 MiB, five times the budget
        assert mock.post(mock.create(), message).status == 200
    store = mock.service.store
    assert _held(mock) <= 2 * 2**20 and store.stored_bytes <= 2 * 2**20
    assert store.evicted > 0
    newest = store.active_for(11, 7)
    assert newest is not None and newest.messages[-2].text == message
    assert all(not c.active for c in store.snapshot() if c.id != newest.id)  # completed ones went first


def test_a_transcript_stops_growing_at_its_budget_with_a_413(in_process: Callable[..., InProcess]) -> None:
    mock = in_process(max_transcript_bytes=256 * KIB)
    cid = mock.create()
    answers = [mock.post(cid, "y" * (16 * KIB)) for _ in range(40)]  # 640 KiB offered
    statuses = [a.status for a in answers]
    assert 200 in statuses and statuses[-1] == 413
    assert statuses == sorted(statuses)  # once full, every later post is refused
    assert answers[-1].json() == TOO_LARGE
    conversation = mock.service.store.get(cid)
    assert conversation is not None and conversation.size <= 256 * KIB
    length = len(conversation.messages)
    assert mock.post(cid, "y" * (16 * KIB)).status == 413
    assert len(conversation.messages) == length  # a refusal leaves the transcript unchanged
    assert mock.call("GET").json()["id"] == cid  # and the conversation still answers


def test_a_conversation_too_big_for_the_store_evicts_the_others_not_itself(
    in_process: Callable[..., InProcess],
) -> None:
    mock = in_process(max_stored_bytes=512 * KIB, max_transcript_bytes=512 * KIB)
    others = [mock.create(token="other_student")]
    for _ in range(2):  # bigger than the slack a 4 KiB turn may leave below the budget
        assert mock.post(others[0], "o" * (4 * KIB), token="other_student").status == 200
    cid = mock.create()
    while mock.post(cid, "z" * (4 * KIB)).status == 200:
        pass
    store = mock.service.store
    assert store.get(cid) is not None and store.get(others[0]) is None
    assert store.stored_bytes <= 512 * KIB


def test_the_ended_profiles_limit_is_canvass_422_not_a_budget(in_process: Callable[..., InProcess]) -> None:
    mock = in_process(profile="ended")
    assert mock.post(mock.create(), "w" * 4001).status == 422


def test_the_store_counts_what_it_holds() -> None:
    store = ConversationStore(max_stored_bytes=10_000, max_transcript_bytes=5_000)
    assert store.stored_bytes == 0
    now = datetime(2026, 2, 15, tzinfo=UTC)
    messages = [store.new_message("User", "hello"), store.new_message("Assistant", "hi")]
    conversation = store.add(1, 101, 7, "llm", messages, now)
    assert conversation.size == store.stored_bytes == CONVERSATION_OVERHEAD + message_bytes(messages)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"max_transcript_bytes": 0}, id="no-transcript"),
        pytest.param({"max_stored_bytes": 10, "max_transcript_bytes": 20}, id="transcript-over-store"),
    ],
)
def test_budgets_that_cannot_hold_a_conversation_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_transcript_bytes"):
        ConversationStore(**options)


def test_students_added_by_the_control_route_are_bounded_in_total(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(max_students=5)
    http: httpx.Client = canvas.http
    first = http.post("/__harness__/students", params={"count": 3})
    assert first.status_code == 200 and len(first.json()) == 3
    refused = http.post("/__harness__/students", params={"count": 3})
    assert refused.status_code == 400 and "--max-students" in refused.json()["error"]
    assert http.post("/__harness__/students", params={"count": 2}).status_code == 200
    assert http.get("/__harness__/stats").json()["students_added"] == 5
    http.post("/__harness__/reset")
    assert http.post("/__harness__/students", params={"count": 5}).status_code == 200


def test_the_default_student_budget_is_one_full_request() -> None:
    assert MockConfig().max_students == 100_000  # five of them took 235 MB before there was a budget
