"""Each fault a test can ask the fake for, made by the domain and conforming to the spec."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.fake import FakeCanvas
from canvas_ai_harness.mock import MockConfig, ThrottleConfig


def _call(
    fake: FakeCanvas, method: str, suffix: str = "", token: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or fake.tokens.student}"}
    return requests.request(method, fake.conversations_url() + suffix, headers=headers, **kwargs)


@pytest.fixture(autouse=True)
def _answers_conform(canvas_fake: FakeCanvas) -> Any:
    """Every fault's answer must itself keep to the spec."""
    yield
    assert all(not call.response_violations for call in canvas_fake.calls), [
        (str(c), c.response_violations) for c in canvas_fake.calls if c.response_violations
    ]


def test_fail_ai_answers_503_the_given_number_of_times(canvas_fake: FakeCanvas) -> None:
    conversation_id = canvas_fake.start_conversation()["id"]
    canvas_fake.fail_ai(times=2)
    statuses = [
        _call(canvas_fake, "POST", f"/{conversation_id}/messages", json={"message": "hi"}).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert canvas_fake.calls[0].json() == {"error": bodies.AI_UNAVAILABLE}


def test_fail_ai_on_create_still_closes_the_previous_conversation(canvas_fake: FakeCanvas) -> None:
    old = canvas_fake.start_conversation()["id"]
    canvas_fake.fail_ai()
    assert _call(canvas_fake, "POST").status_code == 503
    assert _call(canvas_fake, "GET").json() == {}  # as on Canvas: closed before the AI was called
    assert not canvas_fake.service.store.get(old).active  # type: ignore[union-attr]


def test_fail_ai_is_not_spent_by_a_route_that_does_not_call_the_ai(canvas_fake: FakeCanvas) -> None:
    canvas_fake.fail_ai()
    assert _call(canvas_fake, "GET").json() == {}  # no conversation: no AI call
    assert _call(canvas_fake, "POST").status_code == 503


@pytest.mark.canvas_fake(profile="ended")
def test_fail_ai_in_profile_ended_gives_the_rich_body(canvas_fake: FakeCanvas) -> None:
    canvas_fake.fail_ai()
    body = _call(canvas_fake, "POST").json()
    assert body["code"] == "service_unavailable" and body["retryable"] is True


def test_throttle_answers_canvas_403_rate_limit_exceeded(canvas_fake: FakeCanvas) -> None:
    canvas_fake.throttle(times=2)
    answers = [_call(canvas_fake, "GET") for _ in range(3)]
    assert [a.status_code for a in answers] == [403, 403, 200]
    assert answers[0].text == bodies.RATE_LIMITED_TEXT
    assert answers[0].headers["Content-Type"].startswith("text/plain")
    assert answers[0].headers["X-Rate-Limit-Remaining"] == "0.0"


def test_throttle_puts_back_a_configured_throttle() -> None:
    with FakeCanvas(config=MockConfig(throttle=ThrottleConfig())) as fake:
        buckets = fake.service.buckets
        fake.throttle()
        assert _call(fake, "GET").status_code == 403
        assert fake.service.buckets is buckets
        assert _call(fake, "GET").headers["X-Request-Cost"] == "1.0"


def test_rate_limit_answers_429_on_create_and_post_message(canvas_fake: FakeCanvas) -> None:
    conversation_id = canvas_fake.start_conversation()["id"]
    canvas_fake.rate_limit(times=2)
    assert _call(canvas_fake, "GET").status_code == 200  # not counted by Canvas's daily limits
    assert _call(canvas_fake, "POST", f"/{conversation_id}/messages", json={"message": "hi"}).status_code == 429
    limited = _call(canvas_fake, "POST")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert _call(canvas_fake, "POST").status_code == 201


def test_complete_makes_a_conversation_not_found_for_its_student(canvas_fake: FakeCanvas) -> None:
    conversation_id = canvas_fake.start_conversation()["id"]
    canvas_fake.complete(conversation_id)
    answer = _call(canvas_fake, "POST", f"/{conversation_id}/messages", json={"message": "hi"})
    assert (answer.status_code, answer.json()) == (404, bodies.NOT_FOUND)
    assert _call(canvas_fake, "GET", f"/{conversation_id}", token=canvas_fake.tokens.teacher).status_code == 200


def test_disable_feature_answers_404_resource_not_found_even_without_a_token(canvas_fake: FakeCanvas) -> None:
    canvas_fake.disable_feature(101)
    assert _call(canvas_fake, "GET").json() == bodies.NOT_FOUND
    canvas_fake.enable_feature(101)
    assert _call(canvas_fake, "GET").json() == {}


def test_a_demoted_teacher_is_refused_the_teacher_only_route(canvas_fake: FakeCanvas) -> None:
    teacher = canvas_fake.tokens.teacher or ""
    own = canvas_fake.start_conversation(teacher)["id"]
    students = canvas_fake.start_conversation()["id"]
    assert _call(canvas_fake, "GET", f"/{students}", token=teacher).status_code == 200
    canvas_fake.set_role(teacher, "student")
    assert _call(canvas_fake, "GET", f"/{students}", token=teacher).status_code == 404
    refused = _call(canvas_fake, "GET", f"/{own}", token=teacher)
    assert (refused.status_code, refused.json()) == (403, bodies.FORBIDDEN)


def test_return_null_id_creates_nothing(canvas_fake: FakeCanvas) -> None:
    canvas_fake.return_null_id()
    assert _call(canvas_fake, "POST").json()["id"] is None
    assert _call(canvas_fake, "GET").json() == {}
    assert _call(canvas_fake, "POST").json()["id"] == 1


def test_a_fault_without_a_count_lasts_until_reset(canvas_fake: FakeCanvas) -> None:
    canvas_fake.throttle(times=None)
    assert {_call(canvas_fake, "GET").status_code for _ in range(5)} == {403}
    assert canvas_fake.faults.armed == {"throttle": None}
    canvas_fake.reset()
    assert _call(canvas_fake, "GET").status_code == 200


def test_arming_a_fault_twice_adds_up(canvas_fake: FakeCanvas) -> None:
    canvas_fake.fail_ai(times=1)
    canvas_fake.fail_ai(times=2)
    assert canvas_fake.faults.armed == {"ai_unavailable": 3}
    assert [_call(canvas_fake, "POST").status_code for _ in range(4)] == [503, 503, 503, 201]
    assert canvas_fake.service.llm.failure_rate == 0.0


def test_times_must_be_positive(canvas_fake: FakeCanvas) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        canvas_fake.fail_ai(times=0)
