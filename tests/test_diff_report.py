"""``diff-report.html``: verdict first, differences by step with their paths and values, allowed ones apart.

The content tests render a hand-made ``Comparison``; the browser tests load the page a real diff of
two live mocks wrote (a faulty one, and another profile) in headless Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import write_target
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_OK
from canvas_ai_harness.htmlreport import render
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.snapshot.diff import ADDITIVE, BREAKING, PROFILE_ROWS, Comparison, Difference
from canvas_ai_harness.snapshot.page import TEMPLATE, page_context, shorten_pair
from canvas_ai_harness.snapshot.report import write_reports
from fixtures.custom_servers import StartCanvas
from fixtures.servers import Canvas

Rendered = Callable[[Path], str]


def _document(profile: str, host: str) -> dict:
    return {"profile": profile, "target": {"host": host, "declared_profile": profile}, "harness": "9.9", "steps": {}}


def _comparison() -> Comparison:
    comparison = Comparison(_document("completed", "canvas.before.edu"), _document("completed", "canvas.after.edu"))
    comparison.differences = [
        Difference("createConversation/first", "value", "messages[].role", ["user", "assistant"], ["user", "ai"],
                   BREAKING, "value changed"),
        Difference("getConversation/own", "shape", "all_objectives_met", "absent", "boolean", ADDITIVE, "new field"),
        Difference("getActiveConversation/sis-course-id", "status", "", "200", "404 error: 'not found'",
                   BREAKING, "status changed", allowed="we dropped SIS ids"),
    ]  # fmt: skip
    return comparison


def _page(comparison: Comparison, code: int = EXIT_FAILED) -> str:
    return render(TEMPLATE, page_context(comparison, "before.json", "staging.toml", "canvas-ai-harness diff a b", code))


def _section(page: str, anchor: str) -> str:
    """The text of the report from heading ``anchor`` to the next h2."""
    start = page.index(f'id="{anchor}"')
    end = page.find("<h2", start)
    return page[start : end if end > 0 else len(page)]


def test_the_verdict_exit_code_and_command_come_first() -> None:
    page = _page(_comparison())
    body = page[page.index("<body") :]
    assert body.index("Snapshot diff: FAIL") < body.index('id="sides"')
    assert 'data-exit-code="1"' in page and "canvas-ai-harness diff a b" in page
    assert "1 breaking, 1 additive, 1 allowed" in page


def test_a_breaking_difference_shows_its_step_path_and_both_values() -> None:
    breaking = _section(_page(_comparison()), "breaking")
    assert "Breaking (1)" in breaking
    assert "createConversation/first" in breaking and "messages[].role" in breaking
    assert re.search(r'class="before">\[\s*"user",\s*"assistant"\s*\]', unescape(breaking))
    assert re.search(r'class="after">\[\s*"user",\s*"ai"\s*\]', unescape(breaking))
    assert "before.json" in breaking and "staging.toml" in breaking  # which Canvas each column is
    assert "getActiveConversation" not in breaking  # the allowed one is not among them


def test_an_additive_difference_is_listed_on_its_own() -> None:
    additive = _section(_page(_comparison()), "additive")
    assert "Additive (1)" in additive and "getConversation/own" in additive and "all_objectives_met" in additive
    assert "createConversation" not in additive


def test_an_allowed_difference_is_shown_apart_with_its_reason() -> None:
    page = _page(_comparison())
    allowed = _section(page, "allowed")
    assert "getActiveConversation/sis-course-id" in allowed and "allowed: we dropped SIS ids" in allowed
    assert "we dropped SIS ids" not in _section(page, "breaking")


def test_each_side_says_which_canvas_it_came_from() -> None:
    sides = _section(_page(_comparison()), "sides")
    assert "canvas.before.edu" in sides and "canvas.after.edu" in sides
    assert "before.json" in sides and "staging.toml" in sides


def test_no_difference_says_so_and_passes() -> None:
    page = _page(Comparison(_document("ended", "a"), _document("ended", "a")), EXIT_OK)
    assert "Snapshot diff: PASS" in page and 'id="no-difference"' in page


def test_steps_not_observed_are_listed_and_make_the_diff_incomplete() -> None:
    comparison = Comparison(_document("ended", "a"), _document("ended", "a"))
    comparison.not_compared = [("postMessage/first", "Canvas's AI service failed (503) on the after side")]
    comparison.unobserved = ["postMessage/first"]
    page = _page(comparison)
    assert "Snapshot diff: FAIL" in page and "INCOMPLETE: 1 step(s) not observed" in page
    assert "postMessage/first" in _section(page, "not-compared") and "AI service failed" in page
    assert 'id="no-difference"' not in page


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param("x" * 2000 + "BEFORE" + "y" * 2000, "x" * 2000 + "AFTER!" + "y" * 2000, id="middle"),
        pytest.param("ab" * 1500 + "one", "ab" * 1500 + "two", id="repeating-prefix"),
        pytest.param({"text": "z" * 3000 + "old"}, {"text": "z" * 3000 + "new"}, id="json-end"),
    ],
)
def test_a_long_value_is_shortened_around_where_the_sides_differ(before: object, after: object) -> None:
    one, two = shorten_pair(before, after, width=200)
    assert len(one) < 400 and len(two) < 400
    assert one != two, "the shortened values hide their difference"


def test_tokens_in_a_difference_never_reach_the_page(tmp_path: Path) -> None:
    secret = "7~s3cr3tT0kenValueForTheDiffReport"
    comparison = _comparison()
    comparison.differences[0].after = f"Bearer {secret}"
    write_reports(comparison, "a.json", "b.json", tmp_path, Redactor([secret]), env={}, command=f"diff --x {secret}")
    page = (tmp_path / "diff-report.html").read_text("utf-8")
    assert "s3cr3t" not in page and "[REDACTED]" in page


# -- a real diff of two live mocks, rendered in Chromium -------------------------------------------


def _snapshot(canvas: Canvas, tmp_path: Path, name: str) -> Path:
    target, out = tmp_path / f"{name}.toml", tmp_path / f"{name}.json"
    write_target(canvas.target, target)
    assert main(["snapshot", "--target", str(target), "--out", str(out)]) == EXIT_OK
    return out


@pytest.fixture(autouse=True)
def _no_ci_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("CANVAS_AI_TARGET", raising=False)


def test_a_real_diff_of_a_faulty_mock_renders_every_difference(
    start_canvas: StartCanvas, tmp_path: Path, rendered: Rendered
) -> None:
    faithful = _snapshot(start_canvas(profile="ended"), tmp_path, "faithful")  # ended: a 4000-character limit
    faults = frozenset({"show-user-id-integer", "no-length-limit", "sis-course-404"})
    faulty = _snapshot(start_canvas(profile="ended", faults=faults), tmp_path, "faulty")
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\ndifference = "getActiveConversation/sis-course-id:*"\nreason = "no SIS"\n', "utf-8")
    reports = tmp_path / "reports"
    code = main(["diff", str(faithful), str(faulty), "--allow", str(allow), "--report-dir", str(reports)])
    assert code == EXIT_FAILED
    dom = unescape(rendered(reports / "diff-report.html"))
    assert "Snapshot diff: FAIL" in dom and 'data-exit-code="1"' in dom
    assert f"diff {faithful} {faulty} --allow {allow}" in dom
    breaking, additive, allowed = (_section(dom, part) for part in ("breaking", "additive", "allowed"))
    assert "getConversation/" in breaking and "field retyped" in breaking and "user_id" in breaking
    assert re.search(r'class="before">string<', breaking) and re.search(r'class="after">integer<', breaking)
    assert "input now accepted" in additive
    assert "getActiveConversation/sis-course-id" in allowed and "allowed: no SIS" in allowed
    assert "sis-course-id" not in breaking
    assert str(faithful) in _section(dom, "sides") and str(faulty) in _section(dom, "sides")


def test_a_real_profile_change_renders_every_row_of_the_profile_table(
    start_canvas: StartCanvas, tmp_path: Path, rendered: Rendered
) -> None:
    completed = _snapshot(start_canvas(profile="completed"), tmp_path, "completed")
    ended = _snapshot(start_canvas(profile="ended"), tmp_path, "ended")
    reports = tmp_path / "reports"
    assert main(["diff", str(completed), str(ended), "--report-dir", str(reports)]) == EXIT_FAILED
    dom = unescape(rendered(reports / "diff-report.html"))
    profile = _section(dom, "profile")
    assert "Profile change completed → ended" in profile and "(breaking)" in profile
    for row in PROFILE_ROWS:
        assert row in profile, row
    assert "not exercised by the snapshot script" in profile
    assert "Breaking (0)" in dom  # every difference is explained by a row, counted once as the change
