"""One table of Canvas's answers, classified alike by every part that reads answers.

``canvas.answers.classify`` is the one definition; the contract client (what it retries), the
load suite (its outcome classes), the proxy (its answer labels and retry chains) and the
``responses`` fake (when a fault fired) each act on it. Profile ``ended``'s daily limit is a rate
limit to the load suite and the proxy, and an answer to judge, not to retry, to the contract
client.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from canvas_ai_harness.canvas import answers, bodies, routes
from canvas_ai_harness.contract.client import Exchange as ContractExchange
from canvas_ai_harness.contract.client import is_throttled
from canvas_ai_harness.fake.faults import answer_kind as fake_kind
from canvas_ai_harness.load import outcomes
from canvas_ai_harness.mock.service import ApiResponse
from canvas_ai_harness.proxy.observe import answer_kind as proxy_kind
from canvas_ai_harness.proxy.observe import answer_label

JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
EMPTY_BUCKET = {"x-rate-limit-remaining": "0.0"}
CONVERSATION = {
    "id": 1,
    "messages": [{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}],
    "progress": None,
}


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


ANSWERS = [
    pytest.param(201, JSON, _json(CONVERSATION), {}, answers.OK, id="201-created"),
    pytest.param(200, JSON, b"{}", {}, answers.OK, id="200-no-active"),
    pytest.param(200, JSON, _json({"message": "Conversation ended successfully"}), {}, answers.OK, id="200-destroyed"),
    pytest.param(
        403, TEXT, bodies.RATE_LIMITED_TEXT.encode(), EMPTY_BUCKET, answers.THROTTLED, id="403-throttled-text"
    ),
    pytest.param(
        403,
        JSON,
        _json({"errors": [{"message": "403 Forbidden (Rate Limit Exceeded)"}]}),
        {},
        answers.THROTTLED,
        id="403-throttled-json",
    ),
    pytest.param(403, TEXT, b"", EMPTY_BUCKET, answers.THROTTLED, id="403-empty-bucket"),
    pytest.param(429, TEXT, b"429 Too Many Requests (Rate Limit Exceeded)", {}, answers.THROTTLED, id="429-text"),
    pytest.param(429, JSON, _json({"error": "Rate Limit Exceeded"}), {}, answers.THROTTLED, id="429-json"),
    pytest.param(429, JSON, _json(answers.rate_limited("ref-1")), {}, answers.DAILY_LIMIT, id="429-daily-limit"),
    pytest.param(
        503,
        JSON,
        _json(answers.service_unavailable(answers.PROFILES["completed"], "r")),
        {},
        answers.AI_UNAVAILABLE,
        id="503-completed",
    ),
    pytest.param(
        503,
        JSON,
        _json(answers.service_unavailable(answers.PROFILES["ended"], "r")),
        {},
        answers.AI_UNAVAILABLE,
        id="503-ended",
    ),
    pytest.param(404, JSON, _json(bodies.ROUTE_NOT_FOUND), {}, answers.NOT_FOUND, id="404-routing"),
    pytest.param(404, JSON, _json(bodies.NOT_FOUND), {}, answers.NOT_FOUND, id="404-resource"),
    pytest.param(401, JSON, _json(bodies.INVALID_TOKEN), {}, answers.UNAUTHORIZED, id="401-invalid-token"),
    pytest.param(401, JSON, _json(bodies.UNAUTHENTICATED), {}, answers.UNAUTHORIZED, id="401-no-token"),
    pytest.param(401, JSON, _json(bodies.INVALID_AS_USER_ID), {}, answers.UNAUTHORIZED, id="401-as-user-id"),
    pytest.param(403, JSON, _json(bodies.FORBIDDEN), {}, answers.UNAUTHORIZED, id="403-unauthorized"),
    pytest.param(403, JSON, _json(bodies.FORBIDDEN), EMPTY_BUCKET, answers.UNAUTHORIZED, id="403-unauthorized-empty"),
    pytest.param(400, JSON, _json(bodies.BLANK_MESSAGE), {}, answers.CANVAS_ERROR, id="400-blank-message"),
    pytest.param(
        422, JSON, _json(answers.PROFILES["ended"].too_long), {}, answers.CANVAS_ERROR, id="422-message-too-long"
    ),
    pytest.param(500, JSON, _json(bodies.INTERNAL_ERROR), {}, answers.CANVAS_ERROR, id="500"),
]

# What each kind is to the load suite.
LOAD_OUTCOME = {
    answers.OK: outcomes.OK,
    answers.THROTTLED: outcomes.THROTTLED,
    answers.DAILY_LIMIT: outcomes.THROTTLED,
    answers.AI_UNAVAILABLE: outcomes.AI_UNAVAILABLE,
    answers.NOT_FOUND: outcomes.ERROR,
    answers.UNAUTHORIZED: outcomes.ERROR,
    answers.CANVAS_ERROR: outcomes.ERROR,
}


@pytest.mark.parametrize(("status", "content_type", "body", "extra", "kind"), ANSWERS)
def test_every_part_classifies_an_answer_the_same(
    status: int, content_type: str, body: bytes, extra: dict[str, str], kind: str
) -> None:
    headers = {"content-type": content_type, **extra}
    operation = routes.CREATE if status == 201 else routes.ACTIVE

    # the contract client: retries throttling only; the rulebook reads the kind of everything else
    response = httpx.Response(status, headers=headers, content=body)
    exchange = ContractExchange("student", "GET", "http://canvas.test/", {}, b"", status, headers, body, None, response)
    assert exchange.kind == kind
    assert is_throttled(status, response.headers, body) is (kind in answers.RETRY_SOON)

    # the load suite's outcome classes
    assert outcomes.classify(operation, status, body, headers) == LOAD_OUTCOME[kind]

    # the proxy: the kind it follows retries with, and the label its report counts
    assert proxy_kind(status, headers, body) == kind
    assert (answer_label(status, kind, body) == "403 throttled") is (status == 403 and kind == answers.THROTTLED)

    # the responses fake: when a counted fault fired
    assert fake_kind(ApiResponse(status, body, content_type, dict(extra))) == kind


def test_the_table_covers_every_kind() -> None:
    assert {p.values[-1] for p in ANSWERS} == set(answers.KINDS)
