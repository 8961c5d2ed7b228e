"""FakeCanvas as a context manager, a decorator and the ``canvas_fake`` fixture; ``fake.calls`` helpers."""

from __future__ import annotations

import pytest
import requests

from canvas_ai_harness.fake import FakeCanvas
from canvas_ai_harness.mock import MockServer

module_fake = FakeCanvas("https://decorated.example.edu")


def _create(fake: FakeCanvas, token: str | None = None) -> requests.Response:
    return requests.post(fake.conversations_url(), headers={"Authorization": f"Bearer {token or fake.tokens.student}"})


def test_context_manager_intercepts_requests_and_keeps_state_after_the_block() -> None:
    with FakeCanvas() as fake:
        assert _create(fake).json()["id"] == 1
    fake.calls.assert_called("createConversation", times=1, status=201)
    assert fake.service.store.get(1) is not None


def test_requests_reach_real_servers_once_the_fake_stops(mock_servers: dict[str, MockServer]) -> None:
    url = f"{mock_servers['completed'].url}/__harness__/health"
    with FakeCanvas(), pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
        requests.get(url)  # another host: responses refuses it
    assert requests.get(url).json()["ok"] is True


@module_fake
def test_decorator_activates_the_fake() -> None:
    assert _create(module_fake).status_code == 201
    assert _create(module_fake).json()["id"] == 2


@module_fake
def test_decorator_resets_state_between_tests() -> None:
    assert len(module_fake.calls) == 0
    assert _create(module_fake).json()["id"] == 1  # not 3: the previous test's conversations are gone


def test_fixture_gives_a_fresh_active_fake(canvas_fake: FakeCanvas) -> None:
    assert canvas_fake.base_url == "https://canvas.example.edu"
    assert _create(canvas_fake).json()["id"] == 1


@pytest.mark.canvas_fake(profile="ended", base_url="http://canvas.test:8080")
def test_fixture_takes_options_from_its_marker(canvas_fake: FakeCanvas) -> None:
    body = _create(canvas_fake).json()
    assert canvas_fake.service.profile.name == "ended"
    assert "id" in body["messages"][0]  # profile ended gives messages ids
    assert canvas_fake.conversations_url().startswith("http://canvas.test:8080/api/v1/")


def test_calls_helpers_filter_and_assert(canvas_fake: FakeCanvas) -> None:
    conversation_id = _create(canvas_fake).json()["id"]
    headers = {"Authorization": f"Bearer {canvas_fake.tokens.student}"}
    requests.post(
        f"{canvas_fake.conversations_url()}/{conversation_id}/messages", headers=headers, json={"message": "hi"}
    )
    requests.get(canvas_fake.conversations_url(), headers=headers)
    calls = canvas_fake.calls
    calls.assert_operations("createConversation", "postMessage", "getActiveConversation")
    calls.assert_called("postMessage", times=1, status=200)
    calls.assert_not_called("deleteConversation")
    calls.assert_conforming()
    [post] = calls.of("postMessage")
    assert post.request_json() == {"message": "hi"} and len(post.json()["messages"]) == 4
    assert calls[-1].operation_id == "getActiveConversation" and len(calls[:2]) == 2


def test_calls_assertions_say_what_the_client_did(canvas_fake: FakeCanvas) -> None:
    _create(canvas_fake)
    with pytest.raises(AssertionError, match=r"expected 2 createConversation call\(s\), got 1; the client sent: POST"):
        canvas_fake.calls.assert_called("createConversation", times=2)
    with pytest.raises(AssertionError, match="expected at least one postMessage call"):
        canvas_fake.calls.assert_called("postMessage")
    with pytest.raises(AssertionError, match=r"expected calls \['postMessage'\], got \['createConversation'\]"):
        canvas_fake.calls.assert_operations("postMessage")


def test_start_conversation_arranges_state_without_a_recorded_call(canvas_fake: FakeCanvas) -> None:
    body = canvas_fake.start_conversation(canvas_fake.tokens.other_student)
    assert body["id"] == 1 and len(canvas_fake.calls) == 0
    assert canvas_fake.service.store.active_for(12, 7) is not None
