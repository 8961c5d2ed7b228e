"""Courses, experiences and ids: what Canvas refuses (404) and what it must not refuse.

Unknown or deleted courses answer Rails's 404; a course with the ai_experiences flag off, an
unknown, deleted or foreign experience, and a conversation of another experience answer
"Resource Not Found"; an unpublished experience is allowed; sis_course_id: reaches the same
course; string ids on request; unknown routes and methods are 404 (or 405), never served.
"""

from __future__ import annotations

import pytest

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.contract.client import ANONYMOUS
from canvas_ai_harness.contract.rulebook import UNKNOWN_COURSE, UNKNOWN_EXPERIENCE
from canvas_ai_harness.contract.scenario import Canvas


def _refused(canvas: Canvas, identity: str, **refs: str) -> None:
    """Every route under refs Canvas must refuse; aimed at a real conversation where a route takes one."""
    conversation = canvas.conversation()
    canvas.active(identity, **refs)
    canvas.call(identity, "POST", canvas.path(**refs))
    canvas.show(conversation, identity=identity, **refs)
    canvas.post(conversation, "Is anyone here?", identity=identity, **refs)
    canvas.destroy(conversation, identity=identity, **refs)


@pytest.mark.canvas_check("unknown-course-404")
def test_an_unknown_course_is_404(canvas: Canvas) -> None:
    with canvas.judging("unknown-course-404"):
        _refused(canvas, canvas.student, course=UNKNOWN_COURSE)


@pytest.mark.canvas_check("feature-flag-off-404")
@pytest.mark.parametrize("identity", ["student", ANONYMOUS])
def test_a_course_with_the_flag_off_is_404_even_without_a_token(canvas: Canvas, identity: str) -> None:
    identity = canvas.student if identity == "student" else identity
    canvas.needs("feature_disabled_course_id", "feature_disabled_ai_experience_id")
    refs = {
        "course": canvas.target.feature_disabled_course_id or "",
        "experience": canvas.target.feature_disabled_ai_experience_id or "",
    }
    with canvas.judging("feature-flag-off-404"):
        _refused(canvas, identity, **refs)


@pytest.mark.canvas_check("unknown-experience-404")
def test_an_unknown_experience_is_404(canvas: Canvas) -> None:
    with canvas.judging("unknown-experience-404"):
        _refused(canvas, canvas.student, experience=UNKNOWN_EXPERIENCE)


@pytest.mark.canvas_check("deleted-experience-404")
def test_a_deleted_experience_is_404(canvas: Canvas) -> None:
    canvas.needs("deleted_ai_experience_id")
    with canvas.judging("deleted-experience-404"):
        _refused(canvas, canvas.student, experience=canvas.target.deleted_ai_experience_id or "")


@pytest.mark.canvas_check("other-course-experience-404")
def test_an_experience_of_another_course_is_404(canvas: Canvas) -> None:
    canvas.needs("other_course_ai_experience_id")
    with canvas.judging("other-course-experience-404"):
        _refused(canvas, canvas.student, experience=canvas.target.other_course_ai_experience_id or "")


@pytest.mark.canvas_cost(creates=1, posts=1)
@pytest.mark.canvas_check("unpublished-experience-allowed")
def test_an_unpublished_experience_is_allowed(canvas: Canvas) -> None:
    canvas.needs("unpublished_ai_experience_id")
    experience = canvas.target.unpublished_ai_experience_id or ""
    with canvas.judging("unpublished-experience-allowed"):
        canvas.active(experience=experience)
        conversation = canvas.create(experience=experience)
        canvas.post(conversation, "Does the water cycle start with evaporation?", experience=experience)
        canvas.destroy(conversation, experience=experience)


@pytest.mark.canvas_check("other-experience-conversation-404")
@pytest.mark.parametrize("identity", ["student", "teacher"])
def test_a_conversation_of_another_experience_is_404(canvas: Canvas, identity: str) -> None:
    canvas.needs("other_ai_experience_id", f"tokens.{identity}")
    identity = canvas.student if identity == "student" else identity
    conversation = canvas.conversation()
    other = canvas.target.other_ai_experience_id or ""
    with canvas.judging("other-experience-conversation-404"):
        canvas.show(conversation, identity=identity, experience=other)
        canvas.post(conversation, "Wrong experience?", identity=identity, experience=other)
        canvas.destroy(conversation, identity=identity, experience=other)


@pytest.mark.canvas_cost(creates=1, posts=1)
@pytest.mark.canvas_check("sis-course-id-same-course")
def test_sis_course_id_reaches_the_same_course(canvas: Canvas) -> None:
    canvas.needs("course_sis_id")
    sis = f"sis_course_id:{canvas.target.course_sis_id}"
    conversation = canvas.conversation()
    with canvas.judging("sis-course-id-same-course", "active-returns-own-active"):
        canvas.active(course=sis)  # the conversation started by numeric id
        canvas.post(conversation, "Same course, other name?", course=sis)
        if canvas.target.tokens.teacher is not None:
            canvas.show(conversation, course=sis)
        canvas.destroy(conversation, course=sis)
        canvas.create(course=sis)  # left active: the next scenario starts from it


@pytest.mark.canvas_cost(creates=1, posts=1)
@pytest.mark.canvas_check("string-ids-on-request")
@pytest.mark.parametrize("accept", [bodies.CANVAS_STRING_IDS, f"{bodies.CANVAS_STRING_IDS}, application/json"])
def test_string_ids_on_request(canvas: Canvas, accept: str) -> None:
    headers = {"Accept": accept}
    with canvas.judging("string-ids-on-request"):
        conversation = canvas.create(headers=headers)  # a refusal (the daily limit, a 503) is no KeyError
        canvas.active(headers=headers)
        path = canvas.path(conversation, messages=True)
        canvas.call(canvas.student, "POST", path, json_body={"message": "Are my ids strings now?"}, headers=headers)
        if canvas.target.tokens.teacher is not None:
            canvas.show(conversation, headers=headers)


@pytest.mark.canvas_check("unrouted-request-404")
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        pytest.param("PUT", "", id="PUT-conversations"),
        pytest.param("PATCH", "/{id}", id="PATCH-conversation"),
        pytest.param("PUT", "/{id}/messages", id="PUT-messages"),
        pytest.param("GET", "/{id}/transcript", id="GET-unknown-route"),
    ],
)
def test_unknown_routes_and_methods_are_refused(canvas: Canvas, method: str, suffix: str) -> None:
    conversation = canvas.conversation()
    with canvas.judging("unrouted-request-404"):
        canvas.call(canvas.student, method, canvas.path() + suffix.format(id=conversation))
