"""The mock and specs/openapi.yaml agree: schemathesis, fuzzing and following the spec's links, finds nothing.

Short, bounded runs (a few seconds). Path parameters are pinned to the default world's course
and experience so that requests reach the mock's logic instead of stopping at a 404.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import Phase, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from canvas_ai_harness.mock import MockServer
from fixtures.servers import PROFILES

SPEC = Path(__file__).resolve().parents[1] / "specs" / "openapi.yaml"
TEACHER = {"Authorization": "Bearer mock-teacher-token"}  # the one role every route answers 2xx
PINNED = {"course_id": "101", "ai_experience_id": 7}
SHOW = "/api/v1/courses/{course_id}/ai_experiences/{ai_experience_id}/conversations/{id}"

pytestmark = pytest.mark.slow


def _schema(server: MockServer, *phases: str) -> Any:
    schema = schemathesis.openapi.from_path(SPEC)
    schema.config.update(base_url=server.url, headers=TEACHER, parameters=PINNED)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=6, database="none")
    schema.config.phases.update(phases=list(phases))
    # Canvas's DELETE closes a conversation and a teacher may still GET it (canvas-facts.md,
    # "destroy does not delete"), which schemathesis's use-after-free check takes for a bug.
    schema.config.checks.update(excluded_check_names=["use_after_free"])
    return schema


@pytest.fixture(params=PROFILES)
def canvas_schema(request: pytest.FixtureRequest, mock_servers: dict[str, MockServer]) -> Any:
    server = mock_servers[request.param]
    server.service.reset()
    return _schema(server, "examples", "fuzzing")


lazy_schema = schemathesis.pytest.from_fixture("canvas_schema")


@lazy_schema.parametrize()
@settings(max_examples=6, deadline=None)
def test_positive_fuzzing_finds_no_failure(case: Any) -> None:
    case.call_and_validate()


def test_following_the_spec_links_finds_no_failure(mock_servers: dict[str, MockServer]) -> None:
    # Profile ended only, to stay quick: its bodies carry everything profile completed's do, plus
    # message ids, feedback and all_objectives_met; both profiles are fuzzed above.
    server = mock_servers["ended"]
    statuses: Counter[tuple[str, int]] = Counter()

    class Machine(_schema(server, "stateful").as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            server.service.reset()  # each scenario starts from the same world, so runs replay

        def before_call(self, case: Any) -> None:
            case.path_parameters.update(PINNED)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            statuses[(case.operation.label, response.status_code)] += 1

    Machine.run(
        settings=settings(
            max_examples=8,
            stateful_step_count=5,
            deadline=None,
            database=None,
            derandomize=True,  # the same scenarios each run, so the reach below is stable
            phases=[Phase.generate],
        )
    )
    reached = {label.split()[0] + " " + label.rsplit("/", 1)[-1] for (label, status) in statuses if status < 300}
    # Links were followed: a created conversation was then reached through its id.
    assert "POST conversations" in reached, statuses
    assert reached & {"GET {id}", "POST messages", "DELETE {id}"}, statuses


def test_schemathesis_catches_a_mock_that_breaks_the_spec(
    mock_servers: dict[str, MockServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_servers["completed"]
    server.service.reset()
    conversation = server.service.store.add(11, 101, 7, "llm", [], datetime.now(UTC))
    monkeypatch.setattr(server.service, "profile", dataclasses.replace(server.service.profile, destroy_message="Gone"))
    operation = _schema(server, "examples")[SHOW]["DELETE"]
    case = operation.Case(path_parameters={**PINNED, "id": conversation.id}, headers=TEACHER)
    with pytest.raises(FailureGroup, match="Response violates schema"):
        case.call_and_validate()
