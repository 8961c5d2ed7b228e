"""``--junit-xml``: one test case per named check, in the common JUnit shape, failures giving the
rule, the first failing exchange and its curl line; no Hypothesis statistics, no base64."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_ai_harness.contract import CHECKS
from canvas_ai_harness.contract.junit import HARNESS_CLASS, classname
from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.mock.world import OUTSIDER_TOKEN, STUDENT_TOKEN, TEACHER_TOKEN
from fixtures.contract import RunContract
from fixtures.hooks import die_after

_OUTCOMES = ("failure", "error", "skipped")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{80,}")


def junit_shape(text: str) -> ET.Element:
    """Parse ``text`` and assert the common JUnit shape (what GitHub, GitLab and Jenkins read)."""
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suites = list(root)
    assert [s.tag for s in suites] == ["testsuite"]
    suite = suites[0]
    for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp"):
        assert attr in suite.attrib, attr
    cases = suite.findall("testcase")
    assert {child.tag for child in suite} <= {"properties", "testcase"}
    seen = set()
    for case in cases:
        assert case.get("classname") and case.get("name"), case.attrib
        float(case.get("time", "x"))
        key = (case.get("classname"), case.get("name"))
        assert key not in seen, key
        seen.add(key)
        children = list(case)
        assert len(children) <= 1 and all(c.tag in _OUTCOMES for c in children), key
        for child in children:
            assert child.get("message"), key
            assert "\n" not in child.get("message", "")
    counts = {tag: sum(1 for c in cases if c.find(tag) is not None) for tag in _OUTCOMES}
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == counts["failure"]
    assert int(suite.get("errors", "-1")) == counts["error"]
    assert int(suite.get("skipped", "-1")) == counts["skipped"]
    for prop in suite.iter("property"):
        assert len(prop.get("value", "")) < 200, prop.attrib
    assert "hypothesis" not in text.lower()
    assert not _BASE64_RUN.search(text)
    return suite


def _cases(suite: ET.Element, tag: str) -> dict[str, ET.Element]:
    found = {}
    for case in suite.findall("testcase"):
        child = case.find(tag)
        if child is not None:
            found[str(case.get("name"))] = child
    return found


def test_two_planted_faults_give_exactly_the_failures_of_their_rules(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(faults=frozenset({"empty-assistant-reply", "outsider-gets-404"}))

    run = contract_run(server)

    assert run.code == 1
    suite = junit_shape(run.junit)
    failures = _cases(suite, "failure")
    assert set(failures) == {"assistant-text-non-empty", "outsider-403"}
    assert not _cases(suite, "error")
    names = {c.get("name") for c in suite.findall("testcase")}
    assert names == set(CHECKS)  # one case per check, no pytest ids
    outsider = failures["outsider-403"]
    message = outsider.get("message", "")
    assert message.startswith("[outsider-403] expected: 403")
    assert "first: GET /api/v1/courses/101/ai_experiences/7/conversations as outsider" in message
    assert 'reproduce: curl -i -X GET -H "Authorization: Bearer $CANVAS_TOKEN"' in message
    body = outsider.text or ""
    assert CHECKS["outsider-403"].rule in body
    assert "request: GET /api/v1/courses/101/ai_experiences/7/conversations as outsider" in body
    assert re.search(r"reproduce: curl -i -X \w+ -H \"Authorization: Bearer \$CANVAS_TOKEN\"", body)
    assert "got: 404" in body


def test_the_faithful_mock_gives_a_small_file_with_no_failure(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    run = contract_run(mock_canvas())

    assert run.code == 0
    suite = junit_shape(run.junit)
    assert not _cases(suite, "failure") and not _cases(suite, "error")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["create-answers-201"].get("classname") == "createConversation"
    assert cases["no-token-401"].get("classname") == "contract"
    assert len(run.junit.encode()) < 12_000  # was ~7.6 KB of base64 statistics alone


def test_curl_lines_read_the_token_from_the_variable_the_target_file_names(
    contract_run: RunContract,
    mock_canvas: Callable[..., MockServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = mock_canvas(faults=frozenset({"outsider-gets-404", "create-returns-200"}))
    monkeypatch.setenv("CANVAS_STUDENT_TOKEN", STUDENT_TOKEN)
    monkeypatch.setenv("CANVAS_OUTSIDER_TOKEN", OUTSIDER_TOKEN)
    target = tmp_path / "target.toml"
    target.write_text(
        f'base_url = "{server.url}"\ncourse_id = "101"\nai_experience_id = "7"\n[tokens]\n'
        f'student = "${{CANVAS_STUDENT_TOKEN}}"\noutsider = "${{CANVAS_OUTSIDER_TOKEN}}"\nteacher = "{TEACHER_TOKEN}"\n'
    )

    monkeypatch.setenv("CANVAS_AI_TARGET", str(target))

    run = contract_run(None, modules=("test_visibility.py", "test_lifecycle.py"))

    assert run.code == 1
    failures = _cases(junit_shape(run.junit), "failure")
    assert 'Authorization: Bearer $CANVAS_OUTSIDER_TOKEN"' in (failures["outsider-403"].text or "")
    assert 'Authorization: Bearer $CANVAS_STUDENT_TOKEN"' in (failures["create-answers-201"].text or "")
    for token in (STUDENT_TOKEN, OUTSIDER_TOKEN, TEACHER_TOKEN):
        assert token not in run.junit


def test_a_check_applies_to_one_operation_or_is_the_suites() -> None:
    assert classname("create-answers-201") == "createConversation"
    assert classname("unrouted-request-404") == "contract"
    assert classname("outsider-403") == "contract"
    assert HARNESS_CLASS not in {classname(name) for name in CHECKS}


def test_a_target_that_dies_mid_run_is_a_harness_error_never_a_green_file(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas()
    die_after(server, requests=20)

    run = contract_run(server, modules=("test_visibility.py", "test_input.py"))

    assert run.code == 2
    suite = junit_shape(run.junit)
    errors = _cases(suite, "error")
    assert "target-reachable" in errors
    assert errors["target-reachable"].get("message", "").startswith("UNREACHABLE:")
    harness = {c.get("name") for c in suite.findall("testcase") if c.get("classname") == HARNESS_CLASS}
    assert "target-reachable" in harness
    assert not _cases(suite, "failure")  # a dead target broke no rule
