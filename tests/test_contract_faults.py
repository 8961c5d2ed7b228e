"""For each fault a Canvas upgrade could bring, the contract suite fails and names the right check.

Each fault runs the suite module whose scenarios exercise the broken rule (the whole suite finds
them too: ``python bench/contract_detection.py`` prints that table); the property-based and
stateful tests are proven on their own below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from canvas_ai_harness.contract import CHECKS
from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.mock.faults import FAULTS
from fixtures.contract import RunContract

# fault -> the suite module that exercises the rule it breaks
MODULE = {
    "create-returns-200": "test_lifecycle.py",
    "destroy-returns-204": "test_lifecycle.py",
    "progress-missing": "test_transcript.py",
    "role-lowercase": "test_transcript.py",
    "show-user-id-integer": "test_transcript.py",
    "percentage-stale": "test_transcript.py",
    "llm-id-in-create": "test_transcript.py",
    "llm-id-in-post": "test_transcript.py",
    "token-in-auth-errors": "test_visibility.py",
    "create-keeps-previous-active": "test_lifecycle.py",
    "destroy-keeps-active": "test_lifecycle.py",
    "active-returns-completed": "test_lifecycle.py",
    "closed-conversation-writable": "test_lifecycle.py",
    "closed-state-swapped": "test_profiles.py",
    "post-appends-reply-only": "test_transcript.py",
    "post-rewrites-history": "test_transcript.py",
    "user-text-trimmed": "test_input.py",
    "user-text-nfc": "test_input.py",
    "empty-assistant-reply": "test_transcript.py",
    "other-student-visible": "test_visibility.py",
    "show-allowed-to-students": "test_visibility.py",
    "outsider-gets-404": "test_visibility.py",
    "no-www-authenticate": "test_visibility.py",
    "feature-flag-ignored": "test_references.py",
    "deleted-experience-visible": "test_references.py",
    "unpublished-refused": "test_references.py",
    "whitespace-message-accepted": "test_input.py",
    "unicode-mangled": "test_input.py",
    "long-message-truncated": "test_input.py",
    "form-message-dropped": "test_input.py",
    "message-list-accepted": "test_operations.py",
    "no-length-limit": "test_profiles.py",
    "string-ids-ignored": "test_references.py",
    "sis-course-404": "test_references.py",
    "access-token-ignored": "test_conventions.py",
    "json-suffix-404": "test_conventions.py",
    "masquerade-ignored": "test_conventions.py",
    "bad-as-user-id-ignored": "test_conventions.py",
}
REQUIRED_CATEGORIES = {
    "status code",
    "body shape",
    "leaked field",
    "lifecycle",
    "transcript",
    "authorization",
    "input",
    "ids",
    "conventions",
}


def test_the_catalogue_has_fifteen_faults_or_more_across_every_category() -> None:
    categories = Counter(f.category for f in FAULTS.values())

    assert len(FAULTS) >= 15
    assert set(categories) == REQUIRED_CATEGORIES
    assert set(MODULE) == set(FAULTS)
    assert {f.detected_by for f in FAULTS.values()} <= set(CHECKS)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_suite_names_the_check_a_fault_breaks(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer], fault: str
) -> None:
    profile = FAULTS[fault].profile or "completed"
    server = mock_canvas(profile=profile, faults=frozenset({fault}))

    run = contract_run(server, modules=(MODULE[fault],))

    assert run.code == 1, run.output
    assert FAULTS[fault].detected_by in run.failed_checks, run.output
    assert f"[{FAULTS[fault].detected_by}]" in run.output  # the summary names it too
    findings = [f for failure in run.report["failures"] for f in failure["findings"]]
    # every failure says where the answer departs from the rule, and what it held there
    assert all(f["path"] and f["expected_value"] and f["got_value"] for f in findings), findings
    broken = next(f for f in findings if f["check"] == FAULTS[fault].detected_by)
    assert f"at {broken['path']}: expected {broken['expected_value']}" in run.output


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        pytest.param("llm-id-in-post", "llm-id-not-leaked", id="leaked-llm-id"),
        pytest.param("create-returns-200", "create-answers-201", id="create-returns-200"),
        pytest.param("role-lowercase", "body-matches-schema", id="role-lowercase"),
    ],
)
def test_the_property_based_tests_alone_catch_a_fault(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer], fault: str, check: str
) -> None:
    server = mock_canvas(faults=frozenset({fault}))

    run = contract_run(server, modules=("test_operations.py",))

    assert run.code == 1
    assert check in run.failed_checks
    assert all("test_operation_keeps_the_contract" in f["test"] for f in run.report["failures"])


def test_the_stateful_sequences_alone_catch_a_transcript_fault(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(faults=frozenset({"post-appends-reply-only"}))

    run = contract_run(server, modules=("test_sequences.py",), max_examples=10, max_steps=6)

    assert run.code == 1
    assert "transcript-appends-user-and-assistant" in run.failed_checks
    assert all("test_stateful_sequences" in f["test"] for f in run.report["failures"])
