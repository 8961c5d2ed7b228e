"""The proxy's HTML page, as a browser renders it: verdict, every violation with its request and answer,
the answer matrix, the client's behaviour, and never a token."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from canvas_ai_harness.mock import world
from canvas_ai_harness.proxy import write_report
from fixtures.proxy import BASE, Proxied

WAIT = 120  # seconds: bounds a hang, not a speed check
STUDENT = {"Authorization": f"Bearer {world.STUDENT_TOKEN}"}
TOKENS = (world.STUDENT_TOKEN, world.TEACHER_TOKEN, world.OTHER_STUDENT_TOKEN)


def _text(dom: str) -> str:
    """The page's visible text, roughly: tags dropped, entities undone, white space folded."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))
    return re.sub(r" ([,;:])", r"\1", text)


def _section(dom: str, request: int) -> str:
    start = dom.index(f'data-request="{request}"')
    end = dom.find('class="exchange', start)
    return _text(dom[start : end if end > 0 else dom.index('id="matrix"')])


def _client(url: str) -> None:
    """Five kinds of violation, and a blank message sent again two requests later."""
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        assert http.post(BASE, headers=STUDENT).status_code == 201  # role-lowercase: the answer breaks the spec
        assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "   "}).status_code == 400
        form_json = {**STUDENT, "Content-Type": "application/x-www-form-urlencoded"}
        assert http.post(f"{BASE}/1/messages", headers=form_json, content=b'{"message": "hi"}').status_code == 400
        assert http.get(BASE).status_code == 401
        assert http.get(BASE.replace("/conversations", "/transcripts"), headers=STUDENT).status_code == 404
        assert http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "   "}).status_code == 400


@pytest.mark.slow
def test_a_run_with_five_kinds_of_violation_shows_each_with_its_request_and_answer(
    tmp_path: Path, rendered: Callable[[Path], str]
) -> None:
    report = tmp_path / "conformance-report.json"
    command = [sys.executable, "-m", "canvas_ai_harness", "proxy", "--mock", "--port", "0", "--max-requests", "6"]
    command += ["--fault", "role-lowercase", "--report", str(report)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        match = re.search(r"Proxy on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        _client(match.group(1))
        stdout, stderr = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr

    dom = rendered(report.with_suffix(".html"))
    page = _text(dom)
    assert 'data-verdict="FAIL"' in dom and 'data-exit-code="1"' in dom
    assert "command: canvas-ai-harness proxy --mock" in page
    kinds = {m for m in re.findall(r'class="violation" data-kind="([\w-]+)"', dom)}
    assert kinds == {"schema", "body", "content-type", "auth", "route"}

    created = _section(dom, 1)  # the answer broke the spec: the request, and the answer's body
    assert f"POST {BASE}" in created and "status 201" in created
    assert 'messages[0].role is "user"; the spec requires one of "User", "Assistant"' in created
    assert '"role": "user"' in created
    blank = _section(dom, 2)
    assert "message is blank (only spaces); the spec requires text with at least one non-space character" in blank
    assert '"message": " "' in blank and "status 400" in blank and '"error": "message is required"' in blank
    assert "authorization Bearer [REDACTED]" in blank and "content-type application/json" in blank
    form = _section(dom, 3)
    assert "the body looks like JSON but was sent as application/x-www-form-urlencoded" in form
    assert "send Content-Type: application/json" in form and "content-type application/x-www-form-urlencoded" in form
    anonymous = _section(dom, 4)
    assert "no token was sent; the spec requires an Authorization header 'Bearer <token>'" in anonymous
    assert "status 401" in anonymous and "user authorization required" in anonymous
    assert 'www-authenticate Bearer realm="canvas-lms"' in anonymous
    unknown = _section(dom, 5)
    assert "no operation in the spec matches GET" in unknown and "status 404" in unknown
    assert "no token" not in unknown

    matrix = dom[dom.index('id="matrix"') : dom.index('id="behaviour"')]
    assert re.search(r'data-operation="postMessage">.*?data-state="met">3<', matrix, re.S)  # three 400s
    assert re.search(r'data-operation="createConversation">.*?data-state="met">1<', matrix, re.S)  # the 201
    assert matrix.count('data-state="never"') >= 10
    never_met = _text(matrix[matrix.index('id="never-met"') :])
    assert "Never met: {}, 403, 403 throttled, 429, 503" in never_met
    assert "503: --llm-failure-rate 0.3" in never_met and "403 throttled: --throttle" in never_met
    assert 'data-behaviour="retried-client-error"' in dom
    assert "#6 repeated #2" in _text(dom[dom.index('id="behaviour"') :])

    for text in (dom, report.read_text(), report.with_suffix(".txt").read_text(), stdout):
        for token in TOKENS:
            assert token not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", dom)  # opens offline


def test_a_faithful_client_gets_a_passing_page_with_nothing_to_show(
    proxied: Proxied, tmp_path: Path, rendered: Callable[[Path], str]
) -> None:
    http = proxied.http
    assert http.get(BASE, headers=STUDENT).json() == {}
    conversation = http.post(BASE, headers=STUDENT).json()["id"]
    assert http.post(f"{BASE}/{conversation}/messages", headers=STUDENT, json={"message": "Light."}).status_code == 200
    assert http.delete(f"{BASE}/{conversation}", headers=STUDENT).status_code == 200
    [_, _, page_path] = write_report(proxied.settled(4), tmp_path / "conformance-report.json")

    dom = rendered(page_path)
    assert 'data-verdict="PASS"' in dom and 'data-exit-code="0"' in dom
    assert "No request and no answer broke the spec." in _text(dom)
    assert 'class="exchange' not in dom and 'class="violation"' not in dom
    assert 'data-behaviour="' not in dom and "Nothing notable" in _text(dom)
    assert re.search(r'data-operation="deleteConversation">.*?data-state="met">1<', dom, re.S)
    assert all(token not in dom for token in TOKENS)


def test_a_long_body_is_shortened_around_its_violation_after_its_tokens_are_redacted(proxied: Proxied) -> None:
    token = "7~QzXv9PlmKw3RtY8sUnknownToken"  # learned by the proxy from the request's own header
    padding = " ".join([f"word{i} {token}" for i in range(1200)])  # a token wherever a cut may fall
    body = json.dumps({"padding": padding, "message": "   "}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    proxied.http.post(f"{BASE}/1/messages", headers=headers, content=body)  # 401: the mock knows no such token

    page = proxied.settled(1).finish().to_html("conformance-report.json")
    shown = re.search(r'<pre class="body">(.*?)</pre>', page, re.S)
    assert shown is not None
    text = html.unescape(shown.group(1))
    assert text.startswith("…") and '"message": "   "' in text and len(text) < 2000
    for start in range(len(token) - 6):
        assert token[start : start + 6] not in page, token[start : start + 6]


def test_a_request_refused_by_strict_shows_what_was_sent_and_that_nothing_was_forwarded(
    strict_proxied: Proxied,
) -> None:
    answer = strict_proxied.http.post(f"{BASE}/1/messages", headers=STUDENT, json={"message": "   "})
    assert answer.status_code == 400
    page = _text(strict_proxied.settled(1).finish().to_html())
    assert "message is blank (only spaces)" in page and '"message": " "' in page
    assert (
        "rejected (no answer from the upstream reached the client: the proxy rejected the request (--strict))" in page
    )
    assert world.STUDENT_TOKEN not in page and "authorization Bearer [REDACTED]" in page
