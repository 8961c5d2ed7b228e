"""The domain package ``canvas/``: each rule once, at its boundaries, as Canvas (Ruby) has it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canvas_ai_harness.canvas import answers, bodies, lifecycle, requests, routes, transcript
from canvas_ai_harness.canvas.requests import (
    MAX_ID_DIGITS,
    MalformedRequest,
    is_blank,
    message_text,
    parse_id,
    read_params,
    request_token,
)
from canvas_ai_harness.config import ConfigError, parse_target
from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig
from canvas_ai_harness.spec import load_spec

LARGEST_19_DIGITS = "9" * 19
TWENTY_DIGITS = "1" + "0" * 19


# -- ids: Canvas's Api::ID_REGEX is \A\d{1,19}\z ------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("7", 7, id="one-digit"),
        pytest.param(LARGEST_19_DIGITS, int(LARGEST_19_DIGITS), id="nineteen-digits"),
        pytest.param(TWENTY_DIGITS, None, id="twenty-digits"),
        pytest.param("", None, id="empty"),
        pytest.param("\uff17", None, id="fullwidth-digit"),
        pytest.param("-7", None, id="negative"),
        pytest.param("7a", None, id="junk"),
    ],
)
def test_an_id_is_one_to_nineteen_ascii_digits(ref: str, expected: int | None) -> None:
    assert len(str(2**63 - 1)) == MAX_ID_DIGITS
    assert parse_id(ref) == expected


@pytest.mark.parametrize(
    ("course_id", "valid"),
    [pytest.param(LARGEST_19_DIGITS, True, id="nineteen-digits"), pytest.param(TWENTY_DIGITS, False, id="twenty")],
)
def test_the_target_file_takes_the_same_id_limit(course_id: str, valid: bool) -> None:
    data = {
        "base_url": "http://127.0.0.1:1",
        "course_id": course_id,
        "ai_experience_id": "7",
        "tokens": {"student": "t"},
    }
    if valid:
        assert parse_target(data).course_id == course_id
    else:
        with pytest.raises(ConfigError, match="numeric id"):
            parse_target(data)


@pytest.mark.parametrize("conversation", [LARGEST_19_DIGITS, TWENTY_DIGITS], ids=["nineteen-digits", "twenty"])
def test_the_mock_answers_an_unknown_id_at_the_limit_404_never_500(conversation: str) -> None:
    service = CanvasService(MockConfig())
    path = routes.conversations_path(101, 7, conversation, messages=True)
    headers = {"authorization": "Bearer mock-student-token", "content-type": "application/json"}
    answer = service.respond(ApiRequest("POST", path, "", headers, b'{"message": "hi"}'), sleep=None)
    assert (answer.status, answer.json()) == (404, bodies.NOT_FOUND)


# -- Ruby's blank? --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "blank"),
    [
        pytest.param(None, True, id="nil"),
        pytest.param(False, True, id="false"),
        pytest.param("", True, id="empty"),
        pytest.param(" \t\n\r\v\f", True, id="ascii-space"),
        pytest.param("\u3000\u00a0\u2028\u0085", True, id="unicode-space"),
        pytest.param("\x1c\x1d\x1e\x1f", False, id="separators-python-strips"),
        pytest.param("\ufeff", False, id="bom"),
        pytest.param([], True, id="empty-list"),
        pytest.param({}, True, id="empty-object"),
        pytest.param(0, False, id="zero"),
        pytest.param(" a ", False, id="text"),
    ],
)
def test_blank_is_rubys_blank(value: Any, blank: bool) -> None:
    assert is_blank(value) is blank


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(42, "42", id="integer"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(True, "true", id="true"),
        pytest.param("\x1c", "\x1c", id="separator"),
        pytest.param(" ", None, id="blank"),
        pytest.param(["a"], None, id="list"),
    ],
)
def test_message_text_is_what_canvas_passes_on(value: Any, text: str | None) -> None:
    assert message_text(value) == text


# -- parameters and tokens ----------------------------------------------------------------------------
def test_the_body_wins_over_the_query() -> None:
    params = read_params("message=query&x=1", "application/json; charset=utf-8", b'{"message": "body"}')
    assert params == {"message": "body", "x": "1"}


def test_a_form_body_is_merged_too() -> None:
    assert read_params("", "application/x-www-form-urlencoded", b"message=a+b")["message"] == "a b"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"message": NaN}', id="nan"),
        pytest.param(b'{"message": Infinity}', id="infinity"),
        pytest.param(b'{"message": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b'{"message": ', id="truncated"),
        pytest.param(b"\xff", id="not-utf-8"),
    ],
)
def test_what_ruby_cannot_parse_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        read_params("", "application/json", body)


def test_a_nan_message_is_a_400_on_the_mock_as_on_canvas() -> None:
    service = CanvasService(MockConfig())
    headers = {"authorization": "Bearer mock-student-token"}
    created = service.respond(ApiRequest("POST", routes.conversations_path(101, 7), "", headers), sleep=None)
    path = routes.conversations_path(101, 7, created.json()["id"], messages=True)
    answer = service.respond(
        ApiRequest("POST", path, "", {**headers, "content-type": "application/json"}, b'{"message": NaN}'), sleep=None
    )
    assert (answer.status, answer.json()) == (400, bodies.MALFORMED_BODY)


def test_the_bearer_header_wins_over_access_token() -> None:
    assert request_token({"authorization": "Bearer  abc "}, {"access_token": "def"}) == "abc"
    assert request_token({}, {"access_token": "def"}) == "def"
    assert request_token({"authorization": "Basic xyz"}, {}) is None


# -- routes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "operation", "conversation"),
    [
        pytest.param("GET", "/conversations", routes.ACTIVE, None, id="active"),
        pytest.param("HEAD", "/conversations.json", routes.ACTIVE, None, id="head-json"),
        pytest.param("POST", "/conversations", routes.CREATE, None, id="create"),
        pytest.param("GET", "/conversations/5.json", routes.SHOW, "5", id="show-json"),
        pytest.param("POST", "/conversations/5/messages", routes.POST_MESSAGE, "5", id="post"),
        pytest.param("DELETE", "/conversations/5", routes.DESTROY, "5", id="destroy"),
        pytest.param("PUT", "/conversations/5", None, None, id="unsupported-method"),
        pytest.param("GET", "/conversations/5/other", None, None, id="unknown-route"),
    ],
)
def test_a_path_matches_its_operation(method: str, path: str, operation: str | None, conversation: str | None) -> None:
    route = routes.match(method, "/api/v1/courses/sis_course_id:BIO/ai_experiences/7" + path)
    if operation is None:
        assert route is None
    else:
        assert route == routes.Route(operation, "sis_course_id:BIO", "7", conversation)


def test_a_built_path_matches_back() -> None:
    route = routes.match("POST", routes.conversations_path(101, 7, 5, messages=True))
    assert route == routes.Route(routes.POST_MESSAGE, "101", "7", "5")


# -- lifecycle -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "closes"),
    [
        pytest.param(answers.OK, True, id="created"),
        pytest.param(answers.AI_UNAVAILABLE, True, id="503-after-closing"),
        pytest.param(answers.THROTTLED, False, id="throttled"),
        pytest.param(answers.DAILY_LIMIT, False, id="daily-limit"),
        pytest.param(answers.NOT_FOUND, False, id="404"),
        pytest.param(answers.CANVAS_ERROR, None, id="unknown"),
    ],
)
def test_what_a_create_answer_says_about_the_previous_conversation(kind: str, closes: bool | None) -> None:
    assert lifecycle.create_closed_previous(kind) is closes


def test_a_503_create_closes_the_previous_conversation_and_opens_none() -> None:
    conversations: lifecycle.Conversations[str, str, int] = lifecycle.Conversations()
    conversations.after_create(answers.OK, "sam", "7", 1)
    assert conversations.after_create(answers.AI_UNAVAILABLE, "sam", "7", None) == 1
    assert conversations.knows("sam", "7") and conversations.active("sam", "7") is None
    assert conversations.after_create(answers.THROTTLED, "sam", "7", None) is None


def test_ending_closes_only_the_active_one() -> None:
    conversations: lifecycle.Conversations[str, str, int] = lifecycle.Conversations()
    conversations.created("sam", "7", 1)
    assert not conversations.ended("sam", "7", 2)
    assert conversations.ended("sam", "7", 1)
    assert conversations.active("sam", "7") is None


@pytest.mark.parametrize(
    ("operation", "who", "answer"),
    [
        pytest.param(routes.POST_MESSAGE, {"own": True, "active": False}, 404, id="own-closed"),
        pytest.param(routes.POST_MESSAGE, {"own": False, "active": True}, 404, id="another-students"),
        pytest.param(routes.POST_MESSAGE, {"own": True, "active": True}, None, id="own-active"),
        pytest.param(routes.SHOW, {"own": True, "active": True}, 403, id="show-own"),
        pytest.param(routes.SHOW, {"own": False, "active": False, "manager": True}, None, id="teacher"),
        pytest.param(routes.DESTROY, {"own": True, "active": True, "same_experience": False}, 404, id="other-exp"),
    ],
)
def test_who_may_reach_which_conversation(operation: str, who: dict[str, bool], answer: int | None) -> None:
    options = {"same_experience": True, "manager": False, **who}
    refused = lifecycle.refusal(operation, **options)
    assert (refused.status if refused else None) == answer


# -- transcript ----------------------------------------------------------------------------------------
def test_the_ai_id_is_found_at_any_depth() -> None:
    body = {"id": 1, "messages": [{"role": "User", "text": "x", "meta": {"conversation_id": "c"}}]}
    assert list(transcript.hidden_ids(body)) == ["messages[0].meta.conversation_id"]
    found = transcript.check(routes.POST_MESSAGE, body)
    assert found[transcript.NO_AI_ID] is not None
    assert transcript.check(routes.SHOW, {**body, "llm_conversation_id": "c"}).get(transcript.NO_AI_ID) is None


def test_a_new_transcript_is_user_then_assistant() -> None:
    good = {"messages": [{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}]}
    assert transcript.check(routes.CREATE, good)[transcript.NEW_TRANSCRIPT] is None
    bad = {"messages": good["messages"][::-1]}
    assert transcript.check(routes.CREATE, bad)[transcript.NEW_TRANSCRIPT] is not None


def test_a_turn_appends_the_users_text_and_a_reply_and_changes_nothing_else() -> None:
    before = [("User", "p"), ("Assistant", "q")]
    body = {"messages": [{"role": r, "text": t} for r, t in [*before, ("User", "hi"), ("Assistant", "r")]]}
    found = transcript.check(routes.POST_MESSAGE, body, previous=before, sent="hi")
    assert set(found) == {
        transcript.NO_AI_ID,
        transcript.EARLIER_UNCHANGED,
        transcript.TURN_APPENDS,
        transcript.USER_TEXT,
    }
    assert not any(found.values())
    changed = transcript.check(routes.POST_MESSAGE, body, previous=[("User", "P"), ("Assistant", "q")], sent="ho")
    assert changed[transcript.EARLIER_UNCHANGED] is not None and changed[transcript.USER_TEXT] is not None


def test_the_specs_message_pattern_is_rubys_blank() -> None:
    pattern = load_spec()["components"]["schemas"]["PostMessageRequest"]["properties"]["message"]["pattern"]
    disagree = [
        hex(code)
        for code in range(0x110000)
        if not 0xD800 <= code < 0xE000 and (re.search(pattern, chr(code)) is None) != is_blank(chr(code))
    ]
    assert disagree == []


@pytest.mark.parametrize(
    ("headers", "query", "content_type", "body", "tokens"),
    [
        pytest.param({"authorization": "Bearer a~1"}, "", None, b"", ["a~1"], id="bearer"),
        pytest.param({}, "access_token=q~1", None, b"", ["q~1"], id="query"),
        pytest.param({}, "access%5Ftoken=q%7E1", None, b"", ["q~1"], id="encoded-query"),
        pytest.param({}, "", "application/json", b'{"\\u0061ccess_token": "j~1"}', ["j~1"], id="escaped-json-key"),
        pytest.param({}, "", "application/x-www-form-urlencoded", b"a=\xff&access_token=f~1", ["f~1"], id="bad-form"),
        pytest.param(
            {"authorization": "Bearer a~1"},
            "access_token=q~1",
            "application/json",
            b'{"access_token": "j~1"}',
            ["a~1", "j~1", "q~1"],
            id="all-three",
        ),
    ],
)
def test_every_token_a_request_carries_is_found_even_where_canvas_would_not_read_it(
    headers: dict[str, str], query: str, content_type: str | None, body: bytes, tokens: list[str]
) -> None:
    assert sorted(requests.request_tokens(headers, query, content_type, body)) == tokens
