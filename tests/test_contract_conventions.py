"""The conventions the spec leaves out (``contract/conventions.py``), judged in-process: what real
Canvas answers is quiet, a bent answer fires the named check, and a token sent as an
``access_token`` parameter never shows in a violation. The fault matrix
(``test_contract_faults.py``) proves the same checks against a running broken mock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.contract import ContractViolation, Settings
from canvas_ai_harness.contract.conventions import MASQUERADER, UNKNOWN_USER
from canvas_ai_harness.contract.scenario import Canvas
from canvas_ai_harness.contract.session import ContractSession
from canvas_ai_harness.mock import ApiRequest, ApiResponse, CanvasService, MockConfig, default_target
from canvas_ai_harness.mock.faults import faulty_service
from canvas_ai_harness.mock.world import STUDENT_TOKEN
from fixtures.services import Bend, transport_to


@pytest.fixture
def canvas() -> Iterator[Callable[..., Canvas]]:
    """A ``Canvas`` over an in-process faithful mock whose answers ``bend`` may change."""
    sessions: list[ContractSession] = []

    def build(bend: Bend | None = None, faults: frozenset[str] = frozenset()) -> Canvas:
        service = faulty_service(MockConfig(seed=1, faults=faults)) if faults else CanvasService(MockConfig(seed=1))

        session = ContractSession(Settings(seed=1), default_target("http://canvas.test"), is_mock=True)
        session.client.http = httpx.Client(transport=transport_to(service, bend))
        sessions.append(session)
        return Canvas(session)

    yield build
    for session in sessions:
        session.close()


def _fired(action: Callable[[], Any]) -> set[str]:
    with pytest.raises(ContractViolation) as caught:
        action()
    return set(caught.value.check_names)


def _as(status: int, body: bytes) -> Bend:
    def bend(request: ApiRequest, answer: ApiResponse) -> None:
        answer.status, answer.body = status, body

    return bend


def test_canvas_answers_to_the_conventions_are_quiet(canvas: Callable[..., Canvas]) -> None:
    target = canvas()
    conversation = target.create()
    student_id = target.show(conversation, identity=MASQUERADER).json()["user_id"]

    assert target.active(params={"as_user_id": UNKNOWN_USER}).status == 401  # no WWW-Authenticate: not a break
    assert target.active(token_in="query").json()["id"] == conversation
    assert target.call("student", "GET", target.path(conversation) + ".json").status == 403
    assert target.active(MASQUERADER, params={"as_user_id": student_id}).json()["id"] == conversation
    assert target.show(conversation, identity=MASQUERADER, params={"as_user_id": student_id}).status == 403
    results = target.session.results.evaluations
    judged = {name for (name, _), (passed, failed) in results.items() if passed and not failed}
    assert {"invalid-as-user-id-401", "access-token-parameter", "trailing-json-accepted"} <= judged
    assert "masquerade-acts-as-user" in judged


def test_a_bad_as_user_id_answered_with_a_list_of_errors_fires(canvas: Callable[..., Canvas]) -> None:
    target = canvas(bend=_as(401, b'{"errors": [{"message": "Invalid as_user_id"}]}'))

    assert _fired(lambda: target.active(params={"as_user_id": UNKNOWN_USER})) == {"invalid-as-user-id-401"}


def test_a_token_parameter_answered_unauthenticated_fires(canvas: Callable[..., Canvas]) -> None:
    target = canvas(bend=_as(401, json.dumps(bodies.UNAUTHENTICATED).encode()))

    with pytest.raises(ContractViolation) as caught:
        target.active(token_in="query")

    assert "access-token-parameter" in caught.value.check_names
    text = caught.value.render()
    assert STUDENT_TOKEN not in text
    assert "access_token=$CANVAS_TOKEN" in text


def test_a_trailing_json_answered_with_the_routing_404_fires(canvas: Callable[..., Canvas]) -> None:
    target = canvas(bend=_as(404, json.dumps(bodies.ROUTE_NOT_FOUND).encode()))

    assert "trailing-json-accepted" in _fired(lambda: target.call("student", "GET", target.path() + ".json"))


def test_a_masquerade_answered_as_the_admin_fires(canvas: Callable[..., Canvas]) -> None:
    def as_admin(request: ApiRequest, answer: ApiResponse) -> None:
        if "as_user_id" in request.query and request.method == "GET" and answer.status == 403:
            answer.status = 200  # the admin's own answer: it may show any conversation

    target = canvas(bend=as_admin)
    conversation = target.create()
    student_id = target.show(conversation, identity=MASQUERADER).json()["user_id"]

    fired = _fired(lambda: target.show(conversation, identity=MASQUERADER, params={"as_user_id": student_id}))

    assert "masquerade-acts-as-user" in fired


def test_a_create_served_despite_a_bad_as_user_id_is_known_to_the_run(canvas: Callable[..., Canvas]) -> None:
    target = canvas(faults=frozenset({"bad-as-user-id-ignored"}))

    with pytest.raises(ContractViolation) as caught:
        target.call("student", "POST", target.path(), params={"as_user_id": UNKNOWN_USER})

    assert caught.value.check_names == ["invalid-as-user-id-401"]
    created = caught.value.exchange.json()["id"]
    record = target.ledger.active_record("student", target.target.ai_experience_id)
    assert record is not None and record.id == created  # closed at the end of the run like any other
