"""Canvas-wide conventions the spec leaves out and says are tested separately: the token as an
``access_token`` query or form parameter, a trailing ``.json`` on the path, and masquerading
(an admin with ``as_user_id`` acts as that user; a bad ``as_user_id`` is 401 "Invalid as_user_id").
Each request here is cheap: none asks the AI service for more than the conversation it needs."""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract.conventions import MASQUERADER, UNKNOWN_USER
from canvas_ai_harness.contract.limits import CannotRun
from canvas_ai_harness.contract.scenario import Canvas


@pytest.mark.canvas_check("access-token-parameter")
def test_the_token_may_be_an_access_token_parameter(canvas: Canvas) -> None:
    conversation = canvas.conversation()
    with canvas.judging("access-token-parameter", "active-returns-own-active", "blank-message-400"):
        canvas.active(token_in="query")  # the caller's conversation, as with the header
        canvas.call(canvas.student, "GET", canvas.path(conversation), token_in="query")  # show by its student: 403
        # a blank message refused with 400, not 401: the form's token was read, and no AI call was made
        canvas.call(
            canvas.student, "POST", canvas.path(conversation, messages=True), form={"message": " "}, token_in="form"
        )


@pytest.mark.canvas_check("trailing-json-accepted")
def test_a_trailing_json_is_accepted(canvas: Canvas) -> None:
    conversation = canvas.conversation()
    with canvas.judging("trailing-json-accepted", "active-returns-own-active", "blank-message-400"):
        canvas.call(canvas.student, "GET", canvas.path() + ".json")
        canvas.call(canvas.student, "GET", canvas.path(conversation) + ".json")
        canvas.call(
            canvas.student, "POST", canvas.path(conversation, messages=True) + ".json", json_body={"message": ""}
        )


@pytest.mark.canvas_check("masquerade-acts-as-user")
def test_an_admin_with_as_user_id_acts_as_that_user(canvas: Canvas) -> None:
    canvas.needs(f"tokens.{MASQUERADER}")
    conversation = canvas.conversation()
    shown = canvas.show(conversation, identity=MASQUERADER).json()  # whose it is: show's user_id
    if not isinstance(shown, dict) or shown.get("user_id") is None:
        raise CannotRun(f"{MASQUERADER} could not show the student's conversation to learn its user id")
    as_student = {"as_user_id": str(shown["user_id"])}
    with canvas.judging("masquerade-acts-as-user"):
        canvas.active(MASQUERADER, params=as_student)  # the student's active conversation, not the admin's
        canvas.show(conversation, identity=MASQUERADER, params=as_student)  # 403: a student may not show it


@pytest.mark.canvas_check("invalid-as-user-id-401")
@pytest.mark.parametrize("identity", ["student", MASQUERADER])
def test_a_bad_as_user_id_is_401(canvas: Canvas, identity: str) -> None:
    canvas.needs(f"tokens.{identity}")
    identity = canvas.student if identity == "student" else identity
    bad = {"as_user_id": UNKNOWN_USER}
    with canvas.judging("invalid-as-user-id-401"):
        canvas.active(identity, params=bad)
        canvas.call(identity, "POST", canvas.path(), params=bad)  # refused before any AI call
