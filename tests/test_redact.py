"""Tokens never survive redaction, in text, headers or curl reproductions."""

from __future__ import annotations

import html
import json
import re
import shlex
from urllib.parse import quote, quote_plus

import pytest

from canvas_ai_harness.redact import REDACTED, Redactor, curl_command, redact_data

SECRET = "7~Zk3q8SECRETtoken"
ODD = '7~tok/SECRET+é&"😀 x'  # every character that some escaping changes


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


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(quote(ODD, safe=""), id="percent-encoded"),
        pytest.param(re.sub("%..", lambda m: m[0].lower(), quote(ODD, safe="")), id="percent-encoded-lower-hex"),
        pytest.param(quote_plus(ODD), id="form-encoded"),
        pytest.param(json.dumps(ODD)[1:-1], id="json-escaped-ascii"),
        pytest.param(json.dumps(ODD, ensure_ascii=False)[1:-1], id="json-escaped"),
        pytest.param(html.escape(ODD), id="html-escaped"),
        pytest.param(json.dumps(quote(ODD, safe=""))[1:-1], id="percent-encoded-in-json"),
        pytest.param(ODD.replace("~", "%7E"), id="one-character-encoded"),
    ],
)
def test_a_known_secret_is_redacted_in_every_escaped_form(form: str) -> None:
    out = Redactor([ODD])(f"before {form} after")
    assert out == f"before {REDACTED} after"


def test_redacting_before_shortening_leaves_no_piece_of_a_token() -> None:
    text = "x" * 290 + ODD + " tail"
    assert Redactor([ODD])(text)[:300] == "x" * 290 + REDACTED


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("send an Authorization header with a Bearer <token>", id="placeholder"),
        pytest.param("send an Authorization header with a Bearer &lt;token&gt;", id="placeholder-html-escaped"),
        pytest.param("with a Bearer token (or an access_token query parameter)", id="plain-word"),
        pytest.param('WWW-Authenticate: Bearer realm="canvas-lms"', id="auth-param"),
        pytest.param("Bearer ... and Bearer …", id="ellipsis"),
    ],
)
def test_the_harness_help_text_after_bearer_stays_readable(text: str) -> None:
    assert Redactor([SECRET])(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Authorization: Bearer abc123def456", id="unknown-token"),
        pytest.param("Authorization: Bearer abcdef", id="a-word-in-a-header-is-a-token"),
        pytest.param('{"authorization": "Bearer abcdef"}', id="header-as-json"),
        pytest.param("a client sent Bearer 7~Zk3q8unknownToken here", id="token-in-prose"),
        pytest.param("Bearer mock-student-token", id="hyphenated"),
        pytest.param("Bearer abcdefghijklmnopqrstu", id="longer-than-a-word"),
    ],
)
def test_a_real_bearer_value_is_still_redacted(text: str) -> None:
    out = Redactor()(text)
    assert REDACTED in out
    assert not any(value in out for value in ("abc123", "abcdef", "unknownToken", "mock-student", "qrstu"))


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: t, id="as-is"),
        pytest.param(lambda t: quote(t, safe=""), id="percent-encoded"),
        pytest.param(quote_plus, id="form-encoded"),
        pytest.param(lambda t: json.dumps(t)[1:-1], id="json-escaped"),
        pytest.param(html.escape, id="html-escaped"),
    ],
)
def test_a_known_token_after_bearer_is_redacted_in_every_encoding(encode: object) -> None:
    assert callable(encode)
    out = Redactor([ODD])(f"x {encode('Authorization: Bearer ' + ODD)} y")
    assert REDACTED in out
    assert "SECRET" not in out and "tok" not in out


def test_credential_headers_are_redacted_by_name() -> None:
    out = Redactor().headers(
        {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": "_normandy_session=abc", "Accept": "application/json"}
    )
    assert out == {"Authorization": f"Basic {REDACTED}", "Cookie": REDACTED, "Accept": "application/json"}
