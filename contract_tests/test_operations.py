"""Every operation, property-based: schemathesis generates positive and negative cases from
specs/openapi.yaml (the spec's examples, its coverage of boundaries and invalid values, then
random fuzzing). Positive cases are aimed at the target's course, experience and a real
conversation; every answer is checked for its status, content type, headers and body schema,
no 5xx but Canvas's 503, refusal of invalid data, and every Canvas rule that applies."""

from __future__ import annotations

from typing import Any

import pytest

from canvas_ai_harness.contract import plugin

schema = plugin.schema()

SPEC_CHECKS = (
    "status-code-declared",
    "content-type-declared",
    "headers-conform",
    "body-matches-schema",
    "no-server-error",
    "negative-data-rejected",
)


@pytest.mark.canvas_stage(1)
@pytest.mark.canvas_check(*SPEC_CHECKS)
@schema.parametrize()
def test_operation_keeps_the_contract(case: Any, explore: Any) -> None:
    explore(case)
