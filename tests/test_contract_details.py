"""A failure says where the answer departs from the rule: a JSON path, both values, the first difference.

``contract.details`` is pure; the runs against broken mocks (``test_contract_faults.py``, every
fault, and below) prove each check fills it in, and the faithful mock's runs that none fires.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas_ai_harness.canvas import routes, transcript
from canvas_ai_harness.contract.details import (
    ABSENT,
    WIDTH,
    Detail,
    difference,
    excerpt,
    needle,
    shown,
    status_detail,
    value_at,
)
from canvas_ai_harness.htmlreport import around
from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.redact import REDACTED, Redactor
from fixtures.contract import RunContract

SECRET = "tok-3f9a1c77e2b84d05"


def test_the_first_difference_of_two_bodies_is_named_by_its_json_path() -> None:
    expected = {"a": {"b": [1, 2, 3]}, "c": "x"}

    assert difference(expected, expected) is None
    assert difference(expected, {"a": {"b": [1, 5, 3]}, "c": "x"}) == Detail("$.a.b[1]", 2, 5)
    assert difference(expected, {"a": {"b": [1, 2, 3]}}) == Detail("$.c", "x", ABSENT)
    assert difference(expected, {**expected, "llm_conversation_id": "L"}) == Detail(
        "$.llm_conversation_id", ABSENT, "L"
    )
    assert difference({"id": 1}, {"id": True}) == Detail("$.id", 1, True)  # True == 1 in Python, not in JSON


def test_value_at_reads_a_path_and_says_absent_for_none() -> None:
    body = {"messages": [{"role": "User", "text": "hi"}], "progress": None}

    assert value_at(body, "$.messages[0].text") == "hi"
    assert value_at(body, "$.progress") is None
    assert value_at(body, "$.messages[3].text") is ABSENT
    assert value_at(body, "status") is ABSENT


def test_a_status_detail_keeps_the_wanted_statuses_or_their_description() -> None:
    assert shown(status_detail(200, (201,)))["expected_value"] == "201"
    assert shown(status_detail(404, (403, 401)))["expected_value"] == "[403, 401]"
    assert shown(status_detail(404, "not 404")) == {
        "path": "status",
        "expected_value": "not 404",
        "got_value": "404",
        "difference_at": None,
    }


def test_two_long_texts_that_differ_late_are_shown_around_the_difference() -> None:
    was = "a" * 3000 + "The water cycle." + "b" * 3000
    now = "a" * 3000 + "The water cycle!" + "b" * 3000

    seen = shown(Detail("$.messages[0].text", was, now))

    assert seen["difference_at"] == 3015
    assert "cycle." in seen["expected_value"] and "cycle!" in seen["got_value"]
    assert len(seen["got_value"]) <= WIDTH + 2 and seen["got_value"].startswith("…")


@given(
    st.text(min_size=0, max_size=400),
    st.text(min_size=1, max_size=5, alphabet="xyz"),
    st.text(min_size=0, max_size=400),
)
def test_a_shown_text_never_loses_its_first_difference(head: str, change: str, tail: str) -> None:
    was, now = head + "Q" + tail, head + change + tail

    seen = shown(Detail("$.t", was, now), width=40)

    assert seen["difference_at"] == len(head)
    full = json.dumps(now, ensure_ascii=False)
    at = len(json.dumps(head, ensure_ascii=False)) - 1  # where the change starts in the JSON text
    piece = seen["got_value"].strip("…")
    start = full.find(piece)
    assert start >= 0 and start <= at < start + len(piece)  # the window holds the first difference


def test_a_token_near_the_difference_is_redacted_before_anything_is_shortened() -> None:
    redact = Redactor([SECRET])
    was = "x" * 2000 + SECRET + " said hello" + "y" * 2000
    now = "x" * 2000 + SECRET + " said hullo" + "y" * 2000

    detail = Detail("$.messages[2].text", was, now)
    seen = shown(detail, redact, width=30)  # a window narrower than the token's neighbourhood
    text = json.dumps(seen) + str(needle(detail, redact))

    assert "hullo" in seen["got_value"] and "hello" in seen["expected_value"]
    for i in range(len(SECRET) - 3):  # no piece of the token, however short the cut
        assert SECRET[i : i + 4] not in text
    assert REDACTED in shown(detail, redact, width=60)["got_value"]


def test_the_needle_finds_the_difference_in_the_pretty_printed_body() -> None:
    body = {"id": 1, "messages": [{"role": "User", "text": "p" * 5000}], "llm_conversation_id": "L-42"}
    pretty = json.dumps(body, indent=2)

    leaked = needle(Detail("$.llm_conversation_id", ABSENT, "L-42"))
    assert leaked is not None
    cut = around(pretty, leaked, 300)
    assert '"llm_conversation_id": "L-42"' in cut and len(cut) < 400


def test_the_transcript_names_the_changed_message_and_where_its_text_changed() -> None:
    prompt = "You are a leaf. " * 40
    before = [("User", prompt + "Facts: light."), ("Assistant", "Hello")]
    after = [("User", prompt + "Facts: light!"), ("Assistant", "Hello"), ("User", "hi"), ("Assistant", "ok")]
    body = {"messages": [{"role": r, "text": t} for r, t in after]}

    problem = transcript.check(routes.POST_MESSAGE, body, previous=before, sent="hi")[transcript.EARLIER_UNCHANGED]

    assert problem is not None
    assert problem.path == "$.messages[0].text"
    assert f"earlier message 0 changed: its text (User) differs at character {len(prompt) + 12}" in problem.detail
    assert "light." in problem.detail and "light!" in problem.detail  # not two heads that look alike


@pytest.mark.parametrize(
    ("faults", "module", "check", "path"),
    [
        pytest.param("llm-id-in-post", "test_transcript.py", "llm-id-not-leaked", "$.llm_conversation_id", id="leak"),
        pytest.param(
            "post-rewrites-history",
            "test_transcript.py",
            "earlier-messages-unchanged",
            "$.messages[0].text",
            id="rewritten-history",
        ),
        pytest.param(
            "percentage-stale", "test_transcript.py", "progress-consistent", "$.progress.percentage", id="pct"
        ),
        pytest.param("create-returns-200", "test_lifecycle.py", "create-answers-201", "status", id="status"),
        pytest.param("role-lowercase", "test_transcript.py", "body-matches-schema", "$.messages[0].role", id="schema"),
    ],
)
def test_a_broken_answer_is_reported_with_its_path_and_both_values(
    contract_run: RunContract,
    mock_canvas: Callable[..., MockServer],
    faults: str,
    module: str,
    check: str,
    path: str,
) -> None:
    run = contract_run(mock_canvas(faults=frozenset({faults})), modules=(module,))

    found = next(f for failure in run.report["failures"] for f in failure["findings"] if f["check"] == check)
    assert found["path"] == path
    assert found["expected_value"] != found["got_value"]
    assert f"at {path}: expected {found['expected_value']}, got {found['got_value']}" in run.summary
    if check == "earlier-messages-unchanged":
        assert found["difference_at"] is not None
        assert "first difference at character" in run.summary


def test_a_faithful_mock_gives_no_failure_to_detail(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    run = contract_run(mock_canvas(), modules=("test_transcript.py", "test_lifecycle.py"))

    assert run.code == 0, run.output
    assert run.report["failures"] == []
    assert "\n    at " not in run.summary


def test_a_repeating_text_is_cut_at_its_difference_not_at_an_earlier_identical_place() -> None:
    sent = "Light becomes sugar. " * 200  # 4200 characters, every 40 alike
    stored = sent[:2000]  # what a Canvas that truncates keeps
    request = json.dumps({"message": sent}, indent=2)
    answer = json.dumps({"messages": [{"role": "User", "text": stored}]}, indent=2)
    detail = Detail("$.messages[0].text", sent, stored)

    cut_request = excerpt(request, detail, str, 300, sent=True)
    cut_answer = excerpt(answer, detail, str, 300)

    at = request.index(sent) + 2000
    assert request[at - 20 : at + 20] in cut_request and cut_request.startswith("…")
    assert cut_answer.rstrip("…").endswith(stored[-30:] + '"\n    }\n  ]\n}')  # the end of what came back
