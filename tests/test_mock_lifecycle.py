"""Lifecycle rules and progress (canvas-facts.md, "Lifecycle rules" and "Bodies": progress)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvas_ai_harness.canvas import bodies
from fixtures.custom_servers import StartCanvas
from fixtures.generation import SLOW_OK
from fixtures.servers import Canvas
from fixtures.services import InProcess

CLOSED_STATE = {"completed": "completed", "ended": "ended"}
NOT_FOUND = {"error": "Resource Not Found"}
SUBSTANTIVE = "Light becomes sugar energy"  # three words or more: covers the next objective


def _state(canvas: Canvas, conversation_id: int) -> str:
    response = canvas.call("GET", canvas.path(conversation_id), "teacher")
    assert response.status_code == 200, response.text
    state: str = response.json()["workflow_state"]
    return state


def test_create_completes_previous_active_conversation(canvas: Canvas) -> None:
    first = canvas.create()
    second = canvas.create()
    assert second["id"] != first["id"]
    assert _state(canvas, first["id"]) == CLOSED_STATE[canvas.profile]
    assert _state(canvas, second["id"]) == "active"
    assert canvas.call("GET", canvas.path()).json()["id"] == second["id"]


def test_active_conversations_of_different_experiences_are_independent(canvas: Canvas) -> None:
    in_seven = canvas.create()
    in_eight = canvas.create(experience="8")
    assert canvas.call("GET", canvas.path()).json()["id"] == in_seven["id"]
    assert canvas.call("GET", canvas.path(experience="8")).json()["id"] == in_eight["id"]


def test_create_of_one_user_leaves_another_users_conversation_active(canvas: Canvas) -> None:
    mine = canvas.create()
    canvas.create("other_student")
    assert _state(canvas, mine["id"]) == "active"


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_failed_create_still_closes_the_previous_conversation(start_canvas: StartCanvas, profile: str) -> None:
    canvas = start_canvas(profile=profile, llm_failure_rate=1.0)
    service = canvas.server.service
    old = service.store.add(11, 101, 7, "llm-1", [], datetime.now(UTC))
    response = canvas.call("POST", canvas.path())
    assert response.status_code == 503
    stored = service.store.get(old.id)  # the store hands out copies: read it again
    assert stored is not None and stored.workflow_state == CLOSED_STATE[profile]
    service.llm.failure_rate = 0.0  # let the AI answer again, to look through the API
    assert canvas.call("GET", canvas.path()).json() == {}
    assert _state(canvas, old.id) == CLOSED_STATE[profile]


def test_active_returns_only_the_callers_own_and_a_teacher_gets_their_preview(canvas: Canvas) -> None:
    student = canvas.create()
    assert canvas.call("GET", canvas.path(), "teacher").json() == {}
    assert canvas.call("GET", canvas.path(), "other_student").json() == {}
    preview = canvas.create("teacher")
    assert canvas.call("GET", canvas.path(), "teacher").json()["id"] == preview["id"]
    assert canvas.call("GET", canvas.path()).json()["id"] == student["id"]


def test_destroy_closes_without_deleting_and_teacher_can_still_show_it(canvas: Canvas) -> None:
    created = canvas.create()
    canvas.call("POST", canvas.path(created["id"], messages=True), json={"message": SUBSTANTIVE})
    assert canvas.call("DELETE", canvas.path(created["id"])).status_code == 200
    assert canvas.call("GET", canvas.path()).json() == {}
    shown = canvas.call("GET", canvas.path(created["id"]), "teacher").json()
    assert shown["workflow_state"] == CLOSED_STATE[canvas.profile]
    assert len(shown["messages"]) == 4


@pytest.mark.parametrize("closed_by", ["destroy", "new-create"])
@pytest.mark.parametrize(
    ("method", "messages", "send"),
    [
        pytest.param("POST", True, {"json": {"message": "still there?"}}, id="post_message"),
        pytest.param("DELETE", False, {}, id="destroy"),
        pytest.param("GET", False, {}, id="show"),
    ],
)
def test_students_closed_conversation_is_not_found(
    canvas: Canvas, closed_by: str, method: str, messages: bool, send: dict[str, Any]
) -> None:
    created = canvas.create()
    if closed_by == "destroy":
        canvas.call("DELETE", canvas.path(created["id"]))
    else:
        canvas.create()
    response = canvas.call(method, canvas.path(created["id"], messages=messages), **send)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_teacher_reaches_a_students_conversation_in_any_state(canvas: Canvas) -> None:
    created = canvas.create()
    assert canvas.call("GET", canvas.path(created["id"]), "teacher").status_code == 200
    canvas.call("DELETE", canvas.path(created["id"]))
    assert canvas.call("GET", canvas.path(created["id"]), "teacher").status_code == 200
    assert canvas.call("DELETE", canvas.path(created["id"]), "teacher").status_code == 200


# -- progress -----------------------------------------------------------------------------------


def test_progress_counts_objectives_and_rounds_percentage_half_up(canvas: Canvas) -> None:
    created = canvas.create(experience="8")  # three objectives
    progress = created["progress"]
    assert (progress["current"], progress["total"], progress["percentage"]) == (0, 3, 0)
    assert [o["status"] for o in progress["objectives"]] == ["", "", ""]
    seen = []
    for _ in range(4):
        response = canvas.call(
            "POST", canvas.path(created["id"], messages=True, experience="8"), json={"message": SUBSTANTIVE}
        )
        progress = response.json()["progress"]
        seen.append((progress["current"], progress["percentage"]))
        assert [o["status"] for o in progress["objectives"]].count("covered") == progress["current"]
    assert seen == [(1, 33), (2, 67), (3, 100), (3, 100)]


def test_short_turn_does_not_advance_progress(canvas: Canvas) -> None:
    created = canvas.create()
    path = canvas.path(created["id"], messages=True)
    assert canvas.call("POST", path, json={"message": SUBSTANTIVE}).json()["progress"]["percentage"] == 25
    assert canvas.call("POST", path, json={"message": "ok"}).json()["progress"]["current"] == 1


def test_progress_is_null_for_an_experience_without_objectives(canvas: Canvas) -> None:
    created = canvas.create(experience="9")
    assert created["progress"] is None
    path = canvas.path(created["id"], messages=True, experience="9")
    assert canvas.call("POST", path, json={"message": SUBSTANTIVE}).json()["progress"] is None
    assert canvas.call("GET", canvas.path(experience="9")).json()["progress"] is None
    assert canvas.call("GET", canvas.path(created["id"], experience="9"), "teacher").json()["progress"] is None


@pytest.mark.parametrize(
    ("current", "total", "expected"),
    [
        pytest.param(1, 8, 13, id="12.5-rounds-up"),
        pytest.param(1, 3, 33, id="33.3-rounds-down"),
        pytest.param(2, 3, 67, id="66.7-rounds-up"),
        pytest.param(1, 200, 1, id="0.5-rounds-up"),
        pytest.param(3, 3, 100, id="all"),
        pytest.param(0, 0, 0, id="no-objectives"),
    ],
)
def test_percentage_rounds_half_up(current: int, total: int, expected: int) -> None:
    assert bodies.percentage(current, total) == expected


@settings(deadline=None)
@given(total=st.integers(1, 10**6), data=st.data())
def test_percentage_matches_decimal_round_half_up(total: int, data: st.DataObject) -> None:
    current = data.draw(st.integers(0, total))
    exact = (Decimal(100 * current) / Decimal(total)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert bodies.percentage(current, total) == int(exact)


# The fixture is a factory: each example builds its own mock.
@settings(max_examples=30, deadline=None, suppress_health_check=[*SLOW_OK, HealthCheck.function_scoped_fixture])
@given(turns=st.lists(st.text(max_size=40).filter(str.strip), min_size=1, max_size=8))
def test_progress_never_decreases_and_stays_within_total(
    in_process: Callable[..., InProcess], turns: list[str]
) -> None:
    mock = in_process()
    conversation_id = mock.create()
    last = 0
    for text in turns:
        response = mock.post(conversation_id, text)
        assert response.status == 200
        progress = response.json()["progress"]
        assert last <= progress["current"] <= progress["total"] == 4
        assert progress["percentage"] == bodies.percentage(progress["current"], progress["total"])
        last = progress["current"]
