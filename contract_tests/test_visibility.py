"""Who may see what: every identity of the target file, and none, against every route.

Each request is judged by the rulebook, which knows what Canvas answers each identity (another
student's conversation: 404; show by its own student: 403; a non-member: 403; no token: 401
with WWW-Authenticate; an invalid token: 401). Within an identity the routes that change state
(create, destroy) come last; the student's create comes after its destroy, so that the conversation
it starts serves the identities after it (creates are what Canvas allows fewest of).
"""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract.client import ANONYMOUS, INVALID
from canvas_ai_harness.contract.scenario import Canvas

A, C, S, P, D = "getActiveConversation", "createConversation", "getConversation", "postMessage", "deleteConversation"
# identity -> (route, the check that judges that identity on that route), in the order they run
MATRIX = {
    "student": [
        (A, "active-returns-own-active"),
        (S, "show-by-student-403"),
        (P, "non-blank-message-accepted"),
        (D, "destroy-closes"),
        (C, "create-answers-201"),
    ],
    "other_student": [
        (C, "create-answers-201"),
        (A, "active-returns-own-active"),
        (S, "another-students-conversation-404"),
        (P, "another-students-conversation-404"),
        (D, "another-students-conversation-404"),
    ],
    "teacher": [
        (C, "create-answers-201"),
        (A, "active-returns-own-active"),
        (S, "teacher-reaches-any-conversation"),
        (P, "teacher-reaches-any-conversation"),
        (D, "teacher-reaches-any-conversation"),
    ],
    "outsider": [(route, "outsider-403") for route in (A, C, S, P, D)],
    ANONYMOUS: [(route, "no-token-401") for route in (A, C, S, P, D)],
    INVALID: [(route, "invalid-token-401") for route in (A, C, S, P, D)],
}
CASES = [
    pytest.param(
        identity,
        route,
        check,
        id=f"{identity}-{route}",
        marks=[
            pytest.mark.canvas_check(check),
            pytest.mark.canvas_cost(
                creates=int(route == C and identity in ("student", "other_student", "teacher")),
                posts=int(route == P and identity in ("student", "teacher")),
                identity=None if identity == "student" else identity,
            ),
        ],
    )
    for identity, routes in MATRIX.items()
    for route, check in routes
]


@pytest.mark.parametrize(("identity", "route", "check"), CASES)
def test_who_may_see_what(canvas: Canvas, identity: str, route: str, check: str) -> None:
    if identity not in (ANONYMOUS, INVALID):
        canvas.needs(f"tokens.{identity}")
    member = identity in ("student", "other_student", "teacher")
    identity = canvas.student if identity == "student" else identity
    conversation = canvas.conversation()
    with canvas.judging(check):
        if route == A:
            canvas.active(identity)
        elif route == C and member:
            canvas.create(identity)
        elif route == C:
            canvas.call(identity, "POST", canvas.path())
        elif route == S:
            canvas.show(conversation, identity=identity)
        elif route == P:
            canvas.post(conversation, "Who else can read this conversation?", identity=identity)
        else:
            canvas.destroy(conversation, identity=identity)
