"""Violations in plain words: what was sent and what the spec wants, never raw JSON Schema words."""

from __future__ import annotations

import pytest

from canvas_ai_harness.validation import SpecValidator

MESSAGES = "/api/v1/courses/101/ai_experiences/7/conversations/1/messages"
AUTH = {"authorization": "Bearer mock-student-token"}
JSON = {**AUTH, "content-type": "application/json"}
FORM = {**AUTH, "content-type": "application/x-www-form-urlencoded"}
RAW_SCHEMA_WORDS = ("does not match", "is not of type", "is a required property", "was unexpected", "\\S")


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator()


def _messages(validator: SpecValidator, headers: dict[str, str], body: bytes) -> list[str]:
    return [str(v) for v in validator.validate_request("POST", MESSAGES, "", headers, body)[1]]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        pytest.param(
            JSON,
            b'{"message": "   "}',
            "body.message: message is blank (only spaces); "
            "the spec requires text with at least one non-space character",
            id="blank-message",
        ),
        pytest.param(
            JSON,
            b'{"message": ""}',
            "body.message: message is empty; the spec requires text with at least one non-space character",
            id="empty-message",
        ),
        pytest.param(
            JSON,
            b'{"text": "hi"}',
            'body: the body has no "message"; the spec requires "message" (text with at least one non-space character)',
            id="missing-message",
        ),
        pytest.param(JSON, b"[1]", "body: the body is a list of 1 item; the spec requires a JSON object", id="a-list"),
        pytest.param(
            FORM,
            b'{"message": "hi"}',
            "header.Content-Type: the body looks like JSON but was sent as application/x-www-form-urlencoded, "
            "so Canvas reads no parameters from it; send Content-Type: application/json",
            id="json-sent-as-a-form",
        ),
    ],
)
def test_a_bad_body_is_told_in_plain_words(
    validator: SpecValidator, headers: dict[str, str], body: bytes, expected: str
) -> None:
    [message] = _messages(validator, headers, body)
    assert message.startswith(expected)
    assert not any(word in message for word in RAW_SCHEMA_WORDS)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(JSON, b'{"message": "Hello"}', id="json"),
        pytest.param(FORM, b"message=Hello", id="form"),
        pytest.param(FORM, b"message=%7B%22not%22%3A+json%7D", id="form-whose-text-is-json"),
    ],
)
def test_a_faithful_body_has_no_violation(validator: SpecValidator, headers: dict[str, str], body: bytes) -> None:
    assert _messages(validator, headers, body) == []


def test_a_missing_token_names_the_header_and_its_shape(validator: SpecValidator) -> None:
    _, [violation] = validator.validate_request("GET", MESSAGES.removesuffix("/1/messages"), "", {}, b"")
    assert violation.kind == "auth"
    assert "no token was sent; the spec requires an Authorization header 'Bearer <token>'" in violation.message


def test_a_bad_answer_is_told_in_plain_words(validator: SpecValidator) -> None:
    body = (
        b'{"id": "x", "messages": [{"role": "user", "text": null}, {"role": "Assistant", "text": "q"}], "progress": 5}'
    )
    found = {v.where: v.message for v in validator.validate_response("postMessage", 200, JSON, body)}
    assert found == {
        "body.id": 'id is "x"; the spec requires an integer',
        "body.messages[0].role": 'messages[0].role is "user"; the spec requires one of "User", "Assistant"',
        "body.messages[0].text": "messages[0].text is null; the spec requires text",
        "body.progress": "progress is the number 5; the spec requires a JSON object or null",
    }


def test_an_undeclared_property_is_named(validator: SpecValidator) -> None:
    transcript = b'[{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}]'
    body = b'{"id": 1, "messages": ' + transcript + b', "progress": null, "llm_conversation_id": "a"}'
    [violation] = validator.validate_response("createConversation", 201, JSON, body)
    assert violation.message == 'the body has "llm_conversation_id", which the spec does not allow here'


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(
            "/None", 'path.id: id is "None" in the path; the spec requires an integer ≥ 1', id="not-an-integer"
        ),
        pytest.param("/0", "path.id: id is the number 0; the spec requires an integer ≥ 1", id="below-the-minimum"),
    ],
)
def test_a_bad_path_parameter_is_told_in_plain_words(validator: SpecValidator, path: str, expected: str) -> None:
    _, [violation] = validator.validate_request("GET", MESSAGES.removesuffix("/1/messages") + path, "", AUTH, b"")
    assert str(violation) == expected


def test_a_json_body_without_content_type_is_named_json(validator: SpecValidator) -> None:
    [message] = _messages(validator, AUTH, b'{"message": "hi"}')
    assert message.startswith("header.Content-Type: a JSON body was sent without Content-Type; Canvas ignores it.")


def test_a_string_id_that_is_not_digits_is_told_in_plain_words(validator: SpecValidator) -> None:
    transcript = b'[{"role": "User", "text": "p"}, {"role": "Assistant", "text": "q"}]'
    body = b'{"id": "x", "messages": ' + transcript + b', "progress": null}'
    [violation] = validator.with_string_ids().validate_response("postMessage", 200, JSON, body)
    assert violation.message == 'id is "x"; the spec requires an integer or a string of digits'
