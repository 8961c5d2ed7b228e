"""``contract-report.html`` as headless Chromium renders it, from real runs against the mock.

A run with two planted faults shows FAIL first, both broken rules with the JSON path and the two
values, the request, the answer around the difference and a ``curl`` line, and no token; a run
against the faithful mock shows PASS and every rule it judged as passed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from canvas_ai_harness.mock import MockServer
from fixtures.contract import RunContract

PLANTED = frozenset({"llm-id-in-post", "post-rewrites-history"})


def _page(run_dir: Path, rendered: Callable[[Path], str]) -> tuple[str, str]:
    """The rendered DOM, and its text with entities resolved (what a reader sees)."""
    dom = rendered(run_dir / "reports" / "contract-report.html")
    return dom, html.unescape(dom)


def _article(text: str, check: str) -> str:
    found = re.search(rf'<article class="failure" data-check="{re.escape(check)}">(.*?)</article>', text, re.S)
    assert found, f"no failure section for {check}"
    return found.group(1)


def test_a_run_with_two_planted_faults_shows_fail_both_rules_their_values_and_no_token(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer], rendered: Callable[[Path], str]
) -> None:
    server = mock_canvas(faults=PLANTED)
    run = contract_run(server, modules=("test_transcript.py",))

    dom, text = _page(run.directory, rendered)

    assert run.code == 1
    assert 'data-verdict="FAIL"' in dom and "Contract: FAIL" in text
    assert 'data-exit-code="1"' in dom and "command: " in text
    findings: dict[str, dict[str, Any]] = {}
    for failure in run.report["failures"]:
        for finding in failure["findings"]:
            findings.setdefault(finding["check"], finding)  # the page shows each check's first failure
    leak = _article(text, "llm-id-not-leaked")
    assert "$.llm_conversation_id" in leak
    assert findings["llm-id-not-leaked"]["got_value"] in leak and "(absent)" in leak
    history = _article(text, "earlier-messages-unchanged")
    assert "$.messages[0].text" in history
    assert f"first difference at character {findings['earlier-messages-unchanged']['difference_at']}" in history
    for value in ("expected_value", "got_value"):
        assert findings["earlier-messages-unchanged"][value] in history
    for section in (leak, history):
        assert re.search(r'<pre class="request">POST /api/v1/courses/\d+/ai_experiences/\d+/conversations/', section)
        assert re.search(r'<pre class="response">200\n', section)
        assert re.search(r'<pre class="curl">curl -i -X POST .*Bearer \$CANVAS_TOKEN', section)
    assert "<mark>" in leak and '"llm_conversation_id"' in re.search(r"<mark>(.*?)</mark>", leak, re.S).group(1)
    raw = (run.directory / "reports" / "contract-report.html").read_text("utf-8")
    for secret in server.target().secrets():
        if secret:
            assert secret not in dom and secret not in raw and secret not in text
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', raw)  # self-contained


def test_a_passing_run_shows_pass_and_each_rule_it_judged_as_passed(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer], rendered: Callable[[Path], str]
) -> None:
    run = contract_run(mock_canvas(), modules=("test_transcript.py",))

    dom, text = _page(run.directory, rendered)

    assert run.code == 0, run.output
    assert 'data-verdict="PASS"' in dom and "Contract: PASS" in text and 'data-exit-code="0"' in dom
    assert 'class="failure"' not in dom and "Failed checks" not in text
    passed = [c for c in run.report["checks"] if c["status"] == "passed"]
    assert passed
    for check in passed:
        for operation, counts in check["evaluations"].items():
            row = re.search(
                rf'<table class="rules" data-operation="{re.escape(operation)}">.*?'
                rf'<tr data-check="{re.escape(check["name"])}" data-status="(\w[\w ]*)">',
                dom,
                re.S,
            )
            assert row and row.group(1) == ("passed" if counts["passed"] else "not exercised"), check["name"]
    for check in run.report["checks"]:
        if check["status"] == "skipped":
            assert check["reason"] in text


def test_the_command_line_on_the_page_is_redacted_part_by_part() -> None:
    from canvas_ai_harness.contract.htmlpage import invocation
    from canvas_ai_harness.redact import Redactor

    secret = "s3cr3t-token-value-1234"
    argv = ["/usr/bin/canvas-ai-harness", "contract", "--target", "t.toml", f"--header=Bearer {secret}"]

    line = invocation(Redactor([secret]), argv)

    assert line.startswith("canvas-ai-harness contract --target t.toml")
    assert secret not in line and "s3cr3t" not in line and "[REDACTED]" in line


def test_a_run_started_in_process_shows_the_command_it_was_given_not_this_process_argv(tmp_path: Path) -> None:
    from canvas_ai_harness.cli import main

    reports = tmp_path / "r"
    argv = ["contract", "--report-dir", str(reports), "--max-examples", "1", "--only", "create-answers-201"]
    main(argv)

    text = re.sub(r"<[^>]+>", "", html.unescape((reports / "contract-report.html").read_text("utf-8")))
    shown = re.search(r"command: (.*)", text)
    assert shown is not None
    assert shown.group(1).strip() == " ".join(["canvas-ai-harness", *argv])  # not pytest's own argv
