"""Tokens never survive redaction, in text, headers or curl reproductions."""

from __future__ import annotations

import shlex

import pytest

from canvas_ai_harness.redact import REDACTED, Redactor, curl_command, redact_data

SECRET = "7~Zk3q8SECRETtoken"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"token {SECRET} in prose", id="known-secret"),
        pytest.param("Authorization: Bearer 1~unknownTOKEN", id="bearer-header"),
        pytest.param("GET /x?access_token=1~unknown&a=1", id="access-token-param"),
        pytest.param("authorization: bearer lower~case", id="lower-case-scheme"),
    ],
)
def test_tokens_are_redacted(text: str) -> None:
    out = Redactor([SECRET])(text)
    assert REDACTED in out
    assert SECRET not in out and "unknown" not in out and "lower~case" not in out


def test_longer_secret_containing_a_shorter_one_is_redacted_whole() -> None:
    out = Redactor(["abcd", "abcdefgh"])("x abcdefgh y")
    assert out == f"x {REDACTED} y"


def test_short_and_empty_secrets_are_ignored() -> None:
    assert Redactor(["", None, "ab"])("ab cd") == "ab cd"


def test_curl_command_reads_the_token_from_the_environment() -> None:
    redactor = Redactor([SECRET])
    line = curl_command(
        "post",
        f"http://127.0.0.1:8080/x?access_token={SECRET}",
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json", "Content-Length": "9"},
        b'{"message": "it\'s"}',
        redactor,
    )
    assert SECRET not in line
    assert '"Authorization: Bearer $CANVAS_TOKEN"' in line
    words = shlex.split(line)
    assert words[:4] == ["curl", "-i", "-X", "POST"]
    assert '{"message": "it\'s"}' in words
    assert "Content-Length: 9" not in words


def test_the_curl_placeholder_survives_redaction() -> None:
    redactor = Redactor([SECRET])
    line = curl_command("GET", "http://127.0.0.1/x", {"Authorization": f"Bearer {SECRET}"}, None, redactor)
    assert redactor(line) == line
    assert redactor("Bearer $CANVAS_TOKENX") == f"Bearer {REDACTED}"


def test_redact_data_reaches_every_string_and_key_at_any_depth() -> None:
    data = {"a": [f"Bearer {SECRET}", ("x", {SECRET: 1})], "n": 3, "none": None}
    out = redact_data(data, Redactor([SECRET]))
    assert SECRET not in repr(out)
    assert out == {"a": [f"Bearer {REDACTED}", ["x", {REDACTED: 1}]], "n": 3, "none": None}


def test_the_target_files_token_variables_survive_redaction_and_nothing_else() -> None:
    redactor = Redactor([SECRET], variables=["CANVAS_STUDENT_TOKEN"])
    line = curl_command(
        "GET", "http://127.0.0.1/x", {"Authorization": f"Bearer {SECRET}"}, None, redactor, "CANVAS_STUDENT_TOKEN"
    )

    assert line.count('"Authorization: Bearer $CANVAS_STUDENT_TOKEN"') == 1
    assert redactor(line) == line
    assert redactor("Bearer $CANVAS_STUDENT_TOKENX") == f"Bearer {REDACTED}"
    assert Redactor([SECRET])("Bearer $CANVAS_STUDENT_TOKEN") == f"Bearer {REDACTED}"
