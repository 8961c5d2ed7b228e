"""The HTML report layer: verdict first, autoescaped, self-contained, shortened around what matters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from canvas_ai_harness.htmlreport import around, command_line, render, write_html
from canvas_ai_harness.redact import Redactor

_CONTEXT = {"title": "Contract", "verdict": "FAIL", "exit_code": 1, "command": "canvas-ai-harness contract"}


def test_the_verdict_and_exit_code_come_first() -> None:
    page = render("base.html.j2", _CONTEXT)
    body = page[page.index("<body") :]
    assert body.index("Contract: FAIL") < body.index("<main>")
    assert 'data-exit-code="1"' in page


def test_target_text_is_escaped_not_markup() -> None:
    page = render("base.html.j2", {**_CONTEXT, "subtitle": "<script>alert(1)</script>"})
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = render("base.html.j2", _CONTEXT)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_command_line_is_redacted_part_by_part() -> None:
    redactor = Redactor(["s3cr3t-token-value"])
    line = command_line(["canvas-ai-harness", "proxy", "--token", "s3cr3t-token-value"], redactor)
    assert "s3cr3t" not in line
    assert "[REDACTED]" in line


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param("a" * 2000 + "NEEDLE" + "b" * 2000, "NEEDLE", id="middle"),
        pytest.param("a" * 4000 + "NEEDLE", "NEEDLE", id="end"),
        pytest.param("NEEDLE" + "b" * 4000, "NEEDLE", id="start"),
    ],
)
def test_a_long_text_is_shortened_around_the_difference_never_before_it(text: str, needle: str) -> None:
    short = around(text, needle, width=200)
    assert needle in short
    assert len(short) < 400


def test_a_short_text_is_kept_whole() -> None:
    assert around("short", "x") == "short"


def test_the_page_renders_in_a_real_browser(tmp_path: Path, rendered) -> None:  # type: ignore[no-untyped-def]
    path = write_html(tmp_path / "report.html", "base.html.j2", _CONTEXT)
    dom = rendered(path)
    assert "Contract: FAIL" in dom
    assert 'data-exit-code="1"' in dom
