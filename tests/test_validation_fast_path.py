"""The jsonschema_rs fast path of SpecValidator never changes a verdict, only its speed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canvas_ai_harness import validation
from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.validation import SpecValidator

pytest.importorskip("jsonschema_rs")

MESSAGES = [{"role": "User", "text": "prompt"}, {"role": "Assistant", "text": "question?"}]
PROGRESS = {"current": 1, "total": 2, "percentage": 50, "objectives": [{"objective": "o", "status": "covered"}]}
CASES: list[tuple[str, int, Any]] = [
    ("getActiveConversation", 200, {}),
    ("getActiveConversation", 200, {"id": 1, "messages": MESSAGES, "progress": PROGRESS}),
    ("getActiveConversation", 200, {"id": 1, "messages": MESSAGES, "progress": None, "extra": 1}),
    ("createConversation", 201, {"id": None, "messages": MESSAGES, "progress": None}),
    ("createConversation", 201, {"id": 2**70, "messages": MESSAGES, "progress": None}),
    ("createConversation", 201, {"id": 1, "messages": MESSAGES[:1], "progress": {"current": -1}}),
    ("postMessage", 400, bodies.BLANK_MESSAGE),
    ("postMessage", 400, {"error": 3}),
    (
        "getConversation",
        200,
        {
            "id": 1,
            "user_id": "11",
            "llm_conversation_id": None,
            "workflow_state": "active",
            "created_at": "2026-02-15T08:56:18Z",
            "updated_at": "yesterday",
            "messages": MESSAGES,
            "progress": None,
        },
    ),
    ("deleteConversation", 200, {"message": "Conversation completed successfully"}),
    ("deleteConversation", 200, {"message": "Deleted"}),
]


@pytest.mark.parametrize(("operation", "status", "body"), CASES)
def test_fast_path_gives_the_same_violations(
    monkeypatch: pytest.MonkeyPatch, operation: str, status: int, body: Any
) -> None:
    headers = {"content-type": "application/json"}
    payload = json.dumps(body).encode()
    fast = SpecValidator().validate_response(operation, status, headers, payload)
    monkeypatch.setattr(validation, "_rs", None)
    slow = SpecValidator().validate_response(operation, status, headers, payload)
    assert fast == slow


# -- parsing: orjson first, json for what orjson refuses ------------------------------------------
ANSWER = {"id": 1, "messages": MESSAGES, "progress": None}


def _body(label: str) -> bytes:
    text = json.dumps(ANSWER)
    return {
        "int64-max-id": text.replace('"id": 1', f'"id": {2**63 - 1}').encode(),
        "19-digit-id": text.replace('"id": 1', '"id": 1234567890123456789').encode(),
        "id-beyond-64-bits": text.replace('"id": 1', f'"id": {2**70}').encode(),
        "nan-id": text.replace('"id": 1', '"id": NaN').encode(),
        "overflowing-float": text.replace('"id": 1', '"id": 1e400').encode(),
        "lone-surrogate": text.replace('"User"', '"\\ud800"').encode(),
        "utf-16": text.encode("utf-16"),
        "utf-8-bom": b"\xef\xbb\xbf" + text.encode(),
        "duplicate-key": text.replace('{"id": 1', '{"id": "one", "id": 1').encode(),
        "truncated": text[:-3].encode(),
    }[label]


PARSE_CASES = [
    "int64-max-id",
    "19-digit-id",
    "id-beyond-64-bits",
    "nan-id",
    "overflowing-float",
    "lone-surrogate",
    "utf-16",
    "utf-8-bom",
    "duplicate-key",
    "truncated",
]


@pytest.mark.parametrize("label", PARSE_CASES)
def test_the_fast_parser_gives_the_verdict_json_gives(monkeypatch: pytest.MonkeyPatch, label: str) -> None:
    headers = {"content-type": "application/json"}
    payload = _body(label)

    def verdicts() -> list[list[validation.Violation]]:
        plain, string_ids = SpecValidator(), SpecValidator().with_string_ids()
        return [v.validate_response("getActiveConversation", 200, headers, payload) for v in (plain, string_ids)]

    fast = verdicts()
    monkeypatch.setattr(validation, "_loads", json.loads)
    assert fast == verdicts()


def test_canvas_sized_ids_are_valid_answers() -> None:
    headers = {"content-type": "application/json"}
    for label in ("int64-max-id", "19-digit-id"):
        assert SpecValidator().validate_response("getActiveConversation", 200, headers, _body(label)) == []
    assert SpecValidator().validate_response("getActiveConversation", 200, headers, _body("nan-id"))  # not an integer


# -- what is kept per path: only what depends on the path ---------------------------------------
PATH = "/api/v1/courses/101/ai_experiences/7/conversations"


def test_a_path_checked_before_is_still_checked_for_its_token_and_body() -> None:
    validator = SpecValidator()
    token = {"authorization": "Bearer t", "content-type": "application/json"}
    assert validator.validate_request("GET", PATH, "", token)[1] == []
    _, anonymous = validator.validate_request("GET", PATH, "", {})
    assert [v.kind for v in anonymous] == ["auth"]
    assert validator.validate_request("GET", PATH, "access_token=t", {})[1] == []
    messages = f"{PATH}/5/messages"
    assert validator.validate_request("POST", messages, "", token, b'{"message": "hi"}')[1] == []
    _, blank = validator.validate_request("POST", messages, "", token, b'{"message": "  "}')
    assert [v.kind for v in blank] == ["body"]


def test_a_bad_path_parameter_is_flagged_every_time_not_only_the_first() -> None:
    validator = SpecValidator()
    bad = "/api/v1/courses/abc/ai_experiences/7/conversations"
    first = validator.validate_request("GET", bad, "", {"authorization": "Bearer t"})[1]
    second = validator.validate_request("GET", bad, "", {"authorization": "Bearer t"})[1]
    assert [v.kind for v in first] == ["parameter"] and first == second
    second.clear()  # a caller's list is its own: the kept checks are not changed through it
    assert validator.validate_request("GET", bad, "", {"authorization": "Bearer t"})[1] == first


def test_the_paths_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "_MAX_ROUTED", 5)
    validator = SpecValidator()
    for conversation in range(50):
        validator.validate_request("GET", f"{PATH}/{conversation}", "", {"authorization": "Bearer t"})
    assert len(validator._routed) <= 5
