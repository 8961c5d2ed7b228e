"""The rulebook on its own: Canvas's quirks are not violations, and every check fires on a break.

Each test talks to an in-process mock (``CanvasService`` behind an ``httpx.MockTransport``),
optionally bending one answer, so the rulebook's judgement is seen without a server or pytest run.
The fault matrix (``test_contract_faults.py``) proves most checks against a running mock; the
breaks here prove the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.contract import CHECKS, ContractSession, ContractViolation, Settings
from canvas_ai_harness.contract.client import ANONYMOUS
from canvas_ai_harness.contract.limits import CannotRun
from canvas_ai_harness.contract.rulebook import UNKNOWN_COURSE, UNKNOWN_EXPERIENCE, is_blank_message, sent_message
from canvas_ai_harness.contract.scenario import Canvas
from canvas_ai_harness.mock import ApiRequest, ApiResponse, CanvasService, MockConfig, default_target
from canvas_ai_harness.mock.faults import FAULTS
from fixtures.generation import SLOW_OK
from fixtures.services import Bend, transport_to

A_TURN = "Plants make sugar from light."


@pytest.fixture
def synthetic() -> Iterator[Callable[..., Canvas]]:
    """A ``Canvas`` over an in-process mock: ``synthetic(bend=..., **MockConfig options)``."""
    sessions: list[ContractSession] = []

    def build(bend: Bend | None = None, **options: Any) -> Canvas:
        config = MockConfig(**{"seed": 1, **options})
        session = ContractSession(Settings(seed=1), default_target("http://canvas.test", config.profile), is_mock=True)
        session.client.http = httpx.Client(transport=transport_to(CanvasService(config), bend))
        sessions.append(session)
        return Canvas(session)

    yield build
    for session in sessions:
        session.close()


def _body(answer: ApiResponse) -> Any:
    return json.loads(answer.body)


def _set(answer: ApiResponse, body: Any) -> None:
    answer.body = json.dumps(body).encode()


def _fired(action: Callable[[], Any]) -> set[str]:
    with pytest.raises(ContractViolation) as caught:
        action()
    return set(caught.value.check_names)


# -- quirks: what real Canvas does must not be reported ----------------------------------------------
def test_a_json_number_accepted_as_a_message_is_not_a_violation(synthetic: Callable[..., Canvas]) -> None:
    canvas = synthetic()
    answer = canvas.post(canvas.create(), 42)
    assert answer.status == 200


def test_a_null_id_on_create_is_not_a_violation(synthetic: Callable[..., Canvas]) -> None:
    canvas = synthetic(llm_null_id_rate=1.0)
    with canvas.judging("integer-ids", "active-empty-after-end"):
        assert canvas.call("student", "POST", canvas.path()).json()["id"] is None
        assert canvas.active().json() == {}


def test_non_members_answered_401_as_on_older_sites_pass(synthetic: Callable[..., Canvas]) -> None:
    canvas = synthetic(unauthorized_status=401)
    with canvas.judging("outsider-403"):
        assert canvas.active("outsider").status == 401


def test_routing_404_for_an_unsupported_method_is_not_a_violation(synthetic: Callable[..., Canvas]) -> None:
    canvas = synthetic()
    with canvas.judging("unrouted-request-404"):
        assert canvas.call("student", "PATCH", canvas.path()).status == 404


def test_an_ai_service_failure_is_canvas_503_not_a_violation(synthetic: Callable[..., Canvas]) -> None:
    canvas = synthetic(llm_failure_rate=1.0)
    with pytest.raises(CannotRun, match="could not start a conversation"):
        canvas.create()
    assert canvas.session.results.evaluations[("no-server-error", "createConversation")] == [3, 0]


def test_lower_case_header_names_are_not_a_violation(synthetic: Callable[..., Canvas]) -> None:
    def lower(request: ApiRequest, answer: ApiResponse) -> None:
        answer.headers = {k.lower(): v for k, v in answer.headers.items()}

    canvas = synthetic(bend=lower)
    with canvas.judging("no-token-401", "headers-conform"):
        assert canvas.active(ANONYMOUS).headers["www-authenticate"] == bodies.WWW_AUTHENTICATE


def test_a_message_only_python_finds_blank_is_present_as_in_ruby(synthetic: Callable[..., Canvas]) -> None:
    # Ruby's blank? does not count U+001C as space (Python's strip() does): Canvas accepts it.
    canvas = synthetic()
    conversation = canvas.create()
    with canvas.judging("non-blank-message-accepted"):
        assert canvas.post(conversation, "\x1c").status == 200


# -- every check fires on a break ---------------------------------------------------------------------
def _on(method: str, suffix: str, bend: Callable[[ApiRequest, ApiResponse], None]) -> Bend:
    def apply(request: ApiRequest, answer: ApiResponse) -> None:
        if request.method == method and request.path.endswith(suffix):
            bend(request, answer)

    return apply


def _html(request: ApiRequest, answer: ApiResponse) -> None:
    answer.content_type = "text/html"


def _crash(request: ApiRequest, answer: ApiResponse) -> None:
    answer.status = 500
    _set(answer, bodies.INTERNAL_ERROR)


def _serve(request: ApiRequest, answer: ApiResponse) -> None:
    answer.status, answer.content_type = 200, "application/json"
    _set(answer, {})


def _string_ids(request: ApiRequest, answer: ApiResponse) -> None:
    _set(answer, bodies.stringify_ids(_body(answer)))


def _someone_elses(request: ApiRequest, answer: ApiResponse) -> None:
    if _body(answer):
        _set(answer, {**_body(answer), "id": 999})


def _refuse(request: ApiRequest, answer: ApiResponse) -> None:
    answer.status = 404
    _set(answer, bodies.NOT_FOUND)


def _other_message(request: ApiRequest, answer: ApiResponse) -> None:
    _set(answer, {"message": "Conversation deleted"})


def _objectives_met(request: ApiRequest, answer: ApiResponse) -> None:
    _set(answer, {**_body(answer), "all_objectives_met": False})


def _unauthenticated(request: ApiRequest, answer: ApiResponse) -> None:
    answer.headers.pop("WWW-Authenticate", None)


def _message_ids(request: ApiRequest, answer: ApiResponse) -> None:
    body = _body(answer)
    _set(answer, {**body, "messages": [{"id": i, **m} for i, m in enumerate(body["messages"], 1)]})


def _reversed(request: ApiRequest, answer: ApiResponse) -> None:
    body = _body(answer)
    _set(answer, {**body, "messages": body["messages"][::-1]})


def _create_and(action: Callable[[Canvas, int], Any]) -> Callable[[Canvas], Any]:
    return lambda canvas: action(canvas, canvas.create())


BREAKS = {
    "content-type-declared": (_on("GET", "/conversations", _html), lambda c: c.active()),
    "no-server-error": (_on("POST", "/conversations", _crash), lambda c: c.create()),
    "unrouted-request-404": (_on("PATCH", "/conversations", _serve), lambda c: c.call("student", "PATCH", c.path())),
    "integer-ids": (_on("POST", "/messages", _string_ids), _create_and(lambda c, i: c.post(i, A_TURN))),
    "active-returns-own-active": (_on("GET", "/conversations", _someone_elses), _create_and(lambda c, i: c.active())),
    "teacher-reaches-any-conversation": (_on("GET", "", _refuse), _create_and(lambda c, i: c.show(i))),
    "unknown-course-404": (_on("GET", "/conversations", _serve), lambda c: c.active(course=UNKNOWN_COURSE)),
    "unknown-experience-404": (_on("GET", "/conversations", _serve), lambda c: c.active(experience=UNKNOWN_EXPERIENCE)),
    "other-course-experience-404": (
        _on("GET", "/conversations", _serve),
        lambda c: c.active(experience=c.target.other_course_ai_experience_id),
    ),
    "other-experience-conversation-404": (
        _on("GET", "", _serve),
        _create_and(lambda c, i: c.show(i, experience=c.target.other_ai_experience_id)),
    ),
    "profile-destroy-message": (_on("DELETE", "", _other_message), _create_and(lambda c, i: c.destroy(i))),
    "profile-message-ids": (_on("POST", "/conversations", _message_ids), lambda c: c.create()),
    "new-transcript-user-assistant": (_on("POST", "/conversations", _reversed), lambda c: c.create()),
    "profile-show-fields": (_on("GET", "", _objectives_met), _create_and(lambda c, i: c.show(i))),
    "headers-conform": (_on("GET", "/conversations", _unauthenticated), lambda c: c.active(ANONYMOUS)),
    "invalid-token-401": (_on("GET", "/conversations", _unauthenticated), lambda c: c.active("invalid-token")),
}


@pytest.mark.parametrize("check", sorted(BREAKS))
def test_the_check_fires_on_its_break(synthetic: Callable[..., Canvas], check: str) -> None:
    bend, action = BREAKS[check]
    canvas = synthetic(bend=bend)

    assert check in _fired(lambda: action(canvas))


def test_a_violation_says_what_was_expected_what_happened_and_how_to_reproduce(
    synthetic: Callable[..., Canvas],
) -> None:
    canvas = synthetic(bend=_on("POST", "/conversations", lambda r, a: setattr(a, "status", 200)))

    with pytest.raises(ContractViolation) as caught:
        canvas.create()

    text = caught.value.render()
    assert "[create-answers-201] expected: create answers 201 {id, messages, progress}" in text
    assert "got: 200 {" in text
    assert 'reproduce: curl -i -X POST -H "Authorization: Bearer $CANVAS_TOKEN"' in text
    assert "tokens.student" in text


def test_every_check_is_proven_to_fire_by_a_fault_or_a_break() -> None:
    proven = {fault.detected_by for fault in FAULTS.values()} | set(BREAKS)
    assert proven == set(CHECKS)


# -- properties of the rulebook's own reading of requests ------------------------------------------
@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()))
def test_a_message_judged_blank_is_refused_by_the_mock_and_vice_versa(value: Any) -> None:
    service = CanvasService(MockConfig(seed=1))
    create = ApiRequest(
        "POST", "/api/v1/courses/101/ai_experiences/7/conversations", "", {"authorization": "Bearer mock-student-token"}
    )
    conversation = json.loads(service.respond(create, sleep=None).body)["id"]
    post = ApiRequest(
        "POST",
        f"/api/v1/courses/101/ai_experiences/7/conversations/{conversation}/messages",
        "",
        {"authorization": "Bearer mock-student-token", "content-type": "application/json"},
        json.dumps({"message": value}).encode(),
    )
    status = service.respond(post, sleep=None).status
    assert is_blank_message(value) is (status == 400)


@settings(suppress_health_check=[*SLOW_OK, HealthCheck.function_scoped_fixture], max_examples=50)
@given(text=st.text(), encoding=st.sampled_from(["json", "form", "query"]))
def test_the_rulebook_reads_back_the_message_the_client_sent(
    synthetic: Callable[..., Canvas], text: str, encoding: str
) -> None:
    sent: list[Any] = []

    canvas = synthetic()
    canvas.client.observers.insert(0, lambda exchange: sent.append(sent_message(exchange)))
    canvas.post(1, text, encoding=encoding)  # no such conversation: a 404, and nothing to judge
    assert sent == [text]
