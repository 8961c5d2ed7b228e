"""Tests of the example client against the fake Canvas: the pattern to copy for your own client.

The ``canvas_fake`` fixture comes with canvas-ai-harness (no conftest needed). It keeps state like
Canvas, fails the test if the client sends a request the spec does not allow, and injects the
faults a client must survive.
"""

from __future__ import annotations

import pytest
from ai_conversations_client import (
    AIConversationsClient,
    BadRequest,
    Forbidden,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
)

from canvas_ai_harness.fake import FakeCanvas


class Sleeps(list[float]):
    """Records the client's waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(canvas: FakeCanvas, sleeps: Sleeps, token: str | None = None) -> AIConversationsClient:
    retry = RetryPolicy(attempts=4, base_delay=0.5, jitter=0.0, sleep=sleeps)
    return AIConversationsClient(canvas.base_url, token or canvas.tokens.student, 101, 7, retry=retry)


@pytest.fixture
def client(canvas_fake: FakeCanvas, sleeps: Sleeps) -> AIConversationsClient:
    return make_client(canvas_fake, sleeps)


def test_first_visit_finds_no_conversation_and_creates_one(
    canvas_fake: FakeCanvas, client: AIConversationsClient
) -> None:
    assert client.active() is None
    conversation = client.create()
    assert conversation.id is not None and len(conversation.messages) == 2
    assert conversation.transcript[0].role == "Assistant"
    assert client.active() == conversation
    canvas_fake.calls.assert_operations("getActiveConversation", "createConversation", "getActiveConversation")


def test_each_turn_appends_two_messages_and_advances_progress(client: AIConversationsClient) -> None:
    conversation = client.create()
    after = client.send(conversation.id or 0, "Light energy becomes chemical energy in the leaf.")
    assert after.messages[:2] == conversation.messages
    assert [m.role for m in after.messages[2:]] == ["User", "Assistant"]
    assert after.progress is not None and after.progress.current == 1 and after.progress.objectives[0].covered


def test_a_503_is_retried_with_growing_waits(
    canvas_fake: FakeCanvas, client: AIConversationsClient, sleeps: Sleeps
) -> None:
    conversation = client.create()
    canvas_fake.fail_ai(times=2)
    after = client.send(conversation.id or 0, "Chlorophyll absorbs the light.")
    assert len(after.messages) == 4
    assert sleeps == [0.5, 1.0]
    assert [c.status for c in canvas_fake.calls.of("postMessage")] == [503, 503, 200]


def test_a_503_that_persists_raises_after_the_last_attempt(
    canvas_fake: FakeCanvas, client: AIConversationsClient, sleeps: Sleeps
) -> None:
    canvas_fake.fail_ai(times=None)
    with pytest.raises(ServiceUnavailable):
        client.create()
    canvas_fake.calls.assert_called("createConversation", times=4, status=503)
    assert sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    ("fault", "status"),
    [pytest.param("throttle", 403, id="throttled-403"), pytest.param("rate_limit", 429, id="rate-limited-429")],
)
def test_throttling_is_retried_with_backoff(
    canvas_fake: FakeCanvas, client: AIConversationsClient, sleeps: Sleeps, fault: str, status: int
) -> None:
    getattr(canvas_fake, fault)(times=2)
    conversation = client.create()
    assert conversation.id is not None
    assert [c.status for c in canvas_fake.calls.of("createConversation")] == [status, status, 201]
    assert sleeps == [0.5, 1.0]


def test_throttling_that_persists_raises_throttled(canvas_fake: FakeCanvas, client: AIConversationsClient) -> None:
    canvas_fake.throttle(times=None)
    with pytest.raises(Throttled):
        client.active()


def test_a_completed_conversation_is_not_found_and_not_retried(
    canvas_fake: FakeCanvas, client: AIConversationsClient, sleeps: Sleeps
) -> None:
    conversation = client.create()
    canvas_fake.complete(conversation.id or 0)
    with pytest.raises(NotFound):
        client.send(conversation.id or 0, "Are you still there?")
    canvas_fake.calls.assert_called("postMessage", times=1, status=404)
    assert sleeps == []


def test_closing_then_sending_is_not_found(client: AIConversationsClient) -> None:
    conversation = client.create()
    assert client.close(conversation.id or 0) == "Conversation completed successfully"
    with pytest.raises(NotFound):
        client.send(conversation.id or 0, "One more thing.")


def test_feature_flag_off_is_not_found(canvas_fake: FakeCanvas, client: AIConversationsClient) -> None:
    canvas_fake.disable_feature(101)
    with pytest.raises(NotFound):
        client.active()


def test_show_is_for_teachers_only(canvas_fake: FakeCanvas, client: AIConversationsClient, sleeps: Sleeps) -> None:
    conversation = client.create()
    with pytest.raises(Forbidden):
        client.show(conversation.id or 0)
    teacher = make_client(canvas_fake, sleeps, canvas_fake.tokens.teacher)
    detail = teacher.show(conversation.id or 0)
    assert detail.workflow_state == "active" and detail.user_id == "11"
    assert detail.messages == conversation.messages


def test_an_invalid_token_is_unauthorized_and_not_retried(canvas_fake: FakeCanvas, sleeps: Sleeps) -> None:
    client = make_client(canvas_fake, sleeps, "not-a-real-token")
    with pytest.raises(Unauthorized):
        client.active()
    assert sleeps == []


def test_a_create_without_an_id_is_returned_unsaved(canvas_fake: FakeCanvas, client: AIConversationsClient) -> None:
    canvas_fake.return_null_id()
    conversation = client.create()
    assert conversation.id is None and len(conversation.messages) == 2
    assert client.active() is None


def test_a_blank_message_is_refused_before_it_is_sent(canvas_fake: FakeCanvas, client: AIConversationsClient) -> None:
    conversation = client.create()
    with pytest.raises(ValueError, match="blank"):
        client.send(conversation.id or 0, "   ")
    canvas_fake.calls.assert_not_called("postMessage")


@pytest.mark.canvas_fake(profile="ended")
def test_a_long_message_is_a_bad_request_in_newer_canvas(client: AIConversationsClient) -> None:
    conversation = client.create()
    assert conversation.messages[0].id is not None  # newer Canvas gives messages ids
    with pytest.raises(BadRequest):
        client.send(conversation.id or 0, "x" * 4001)


def test_every_request_the_client_sent_conformed(canvas_fake: FakeCanvas, client: AIConversationsClient) -> None:
    conversation = client.create()
    client.send(conversation.id or 0, "Sunlight, water and carbon dioxide.")
    client.close(conversation.id or 0)
    canvas_fake.calls.assert_conforming()
