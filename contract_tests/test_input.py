"""post_message input: the user's text (unicode, long, form-encoded, JSON, query) comes back
unchanged, and a blank or whitespace-only message is a 400 with Canvas's body."""

from __future__ import annotations

import pytest

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.contract.scenario import Canvas

MESSAGES = [
    pytest.param("json", "Chlorophyll absorbs red and blue light 🌿", id="json-emoji"),
    pytest.param("form", "Licht → Zucker: ça marche, señor! 光合作用", id="form-unicode"),
    pytest.param("query", "Sunlight, water & CO2 = glucose + O2?", id="query-symbols"),
    pytest.param("json", "  padded with spaces, then a newline\n", id="json-surrounding-whitespace"),
    pytest.param("json", "cafe\u0301 and e\u0301te\u0301 written decomposed", id="json-decomposed-accents"),
    pytest.param("json", "مرحبا — שלום — こんにちは", id="json-rtl-and-cjk"),
    pytest.param("form", "line one\r\nline two\twith a tab", id="form-line-breaks"),
]
BLANKS = [
    pytest.param("json", "", id="json-empty"),
    pytest.param("json", "   ", id="json-spaces"),
    pytest.param("form", "\t\n ", id="form-tabs-and-newlines"),
    pytest.param("json", "\u3000\u00a0", id="json-unicode-spaces"),
    pytest.param("json", None, id="json-null"),
    pytest.param("none", None, id="missing"),
]
# The longest message every profile accepts; one more character is where they part.
LONGEST_ACCEPTED = min(p.max_message_chars for p in answers.PROFILES.values() if p.max_message_chars)
SENTENCE = "Light energy becomes chemical energy in the chloroplast — ça va? "


@pytest.mark.canvas_cost(creates=0, posts=1)
@pytest.mark.canvas_check("user-text-unchanged", "non-blank-message-accepted")
@pytest.mark.parametrize(("encoding", "text"), MESSAGES)
def test_the_users_text_comes_back_unchanged(canvas: Canvas, encoding: str, text: str) -> None:
    conversation = canvas.conversation()
    with canvas.judging("user-text-unchanged", "non-blank-message-accepted"):
        canvas.post(conversation, text, encoding=encoding)


@pytest.mark.canvas_cost(creates=0, posts=1)
@pytest.mark.canvas_check("user-text-unchanged")
def test_a_long_message_comes_back_whole(canvas: Canvas) -> None:
    conversation = canvas.conversation()
    text = (SENTENCE * (LONGEST_ACCEPTED // len(SENTENCE) + 1))[:LONGEST_ACCEPTED]
    with canvas.judging("user-text-unchanged"):
        canvas.post(conversation, text)


@pytest.mark.canvas_check("blank-message-400")
@pytest.mark.parametrize(("encoding", "text"), BLANKS)
def test_a_blank_message_is_refused(canvas: Canvas, encoding: str, text: str | None) -> None:
    conversation = canvas.conversation()
    with canvas.judging("blank-message-400"):
        if encoding == "none":
            canvas.call(canvas.student, "POST", canvas.path(conversation, messages=True))
        else:
            canvas.post(conversation, text, encoding=encoding)
