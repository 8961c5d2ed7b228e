"""The preflight: a few cheap requests that tell a broken setup from a broken Canvas, before any AI call.

Every command that talks to a Canvas (``contract``, ``load``, ``check``) runs ``preflight(target)``
first. It never creates a conversation or posts a message; it reads (canvas-facts.md order):

1. ``base_url``: a path ending in ``/api/v1`` (or ``/api``) is named at once (the harness adds it);
2. the routes: ``GET .../conversations`` with a made-up token is 401 "Invalid access token." on a
   Canvas (the token comes first), and a routing 404 when the routes are not under ``base_url``;
3. the course and its feature flag: the same request without a token is 401 when both are right,
   404 ``{"error": "Resource Not Found"}`` when the flag is off, the routing 404 when the course is unknown;
4. each token: refused (401 "Invalid access token."), a member of the course or not (the outsider
   must not be), and the experience (404 "Resource Not Found" to a member: unknown experience);
5. the role each key claims, from ``GET /api/v1/courses/:id`` (canvas/courses.py, the one route
   outside the five): a teacher token must have an enrolment that may manage assignments, a student
   token must not, and the two students must be two users; the admin token must be able to act as
   the student (``as_user_id``: 401 "Invalid as_user_id" otherwise);
6. optional ids where cheap: ``other_ai_experience_id`` (reachable), ``course_sis_id`` (names the
   same course), ``feature_disabled_course_id`` (exists).

A broken setup raises ``SetupError`` (exit 2) whose one line names the field and the fix;
nothing answering raises ``TargetUnreachable``. An answer the preflight cannot read (throttling,
a 5xx, an odd body) is left for the suites to judge: the preflight only names what is certain.
Optional ids whose point is a refusal (deleted, unpublished, another course's experience, the
flag-off course's experience) cannot be told apart from a Canvas that breaks the rule they test,
so the suites judge them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from canvas_ai_harness.canvas import answers, bodies, courses
from canvas_ai_harness.config import Target
from canvas_ai_harness.crash import remember_secrets
from canvas_ai_harness.errors import SetupError, TargetUnreachable

__all__ = ["USER_AGENT", "PreflightResult", "preflight"]

USER_AGENT: Final = "canvas-ai-harness-preflight"  # so that a Canvas's logs (and the tests) can tell these apart

_NOT_A_TOKEN: Final = "canvas-ai-harness-preflight-not-a-token"
_ROLE_OF: Final = {
    "student": "a student of the course",
    "other_student": "a second student of the course",
    "teacher": "a teacher of the course",
    "outsider": "a user not enrolled in the course",
    "admin": "an account admin",
}


@dataclass(frozen=True, slots=True)
class PreflightResult:
    """What the preflight sent and how long it took (it made no AI call)."""

    requests: int
    seconds: float

    def line(self) -> str:
        return f"preflight: ok ({self.requests} requests, {self.seconds:.1f} s, no AI call)"


@dataclass(slots=True)
class _Answer:
    status: int
    body: Any
    kind: str


class _Probe:
    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.where = target.source
        self.sent = 0
        self.client = httpx.Client(
            base_url=target.base_url,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    def get(self, path: str, token: str | None, params: dict[str, str] | None = None) -> _Answer:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.sent += 1
        try:
            response = self.client.get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise TargetUnreachable(
                f"cannot reach the target at {self.target.base_url} ({type(exc).__name__}); check base_url in "
                f"{self.where} and that the server is up"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return _Answer(response.status_code, body, answers.classify(response.status_code, {}, response.content))


def _errors_message(body: Any) -> str | None:
    """The first message of Canvas's ``{"errors": [{"message": ...}]}`` bodies."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    return first.get("message") if isinstance(first, dict) else None


def _refused_token(answer: _Answer) -> bool:
    return answer.status == 401 and _errors_message(answer.body) == _errors_message(bodies.INVALID_TOKEN)


def _not_member(answer: _Answer) -> bool:
    return answer.status in (401, 403) and isinstance(answer.body, dict) and answer.body.get("status") == "unauthorized"


def _feature_off(answer: _Answer) -> bool:
    return answer.status == 404 and answer.body == bodies.NOT_FOUND


def _check_base_url(target: Target) -> None:
    url = urlsplit(target.base_url)
    path = url.path.rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if path.lower().endswith(suffix):
            root = urlunsplit((url.scheme, url.netloc, path[: -len(suffix)], "", ""))
            raise SetupError(
                f"{target.source}: base_url {target.base_url!r} ends in {suffix}, which the harness adds itself; "
                f'write base_url = "{root}"'
            )


def _check_routes(probe: _Probe, target: Target) -> None:
    answer = probe.get(target.path(), _NOT_A_TOKEN)
    if answer.status == 404:
        path = urlsplit(target.base_url).path
        hint = f"; its path {path!r} is the likely mistake" if path not in ("", "/") else ""
        raise SetupError(
            f"{target.source}: base_url {target.base_url!r}: no AI Conversations route answers under it "
            f"(GET {target.path()} answered 404 where Canvas answers 401 to any token){hint}; base_url must be "
            "the Canvas root, such as https://canvas.example.edu"
        )


def _check_course(probe: _Probe, target: Target) -> None:
    answer = probe.get(target.path(), None)
    if _feature_off(answer):
        raise SetupError(
            f"{target.source}: course_id {target.course_id} has the ai_experiences feature off (404 Resource Not "
            "Found even without a token); turn the feature on for that course, or name a course where it is on"
        )
    if answer.status == 404:
        raise SetupError(
            f"{target.source}: course_id {target.course_id}: Canvas knows no such course (404 The specified "
            "resource does not exist.); check the id, or write sis_course_id:<SIS id>"
        )


def _check_tokens(probe: _Probe, target: Target) -> list[str]:
    """Each token: refused, a member or not; the experience. Returns the member keys that claim a role."""
    members: list[str] = []
    tokens = target.tokens
    for key in (*tokens.student_pool, "other_student", "teacher", "outsider", "admin"):
        token, name, role = tokens.of(key), tokens.key(key), _ROLE_OF.get(key, _ROLE_OF["student"])
        if token is None:
            continue
        answer = probe.get(target.path(), token)
        if _refused_token(answer):
            raise SetupError(
                f"{target.source}: {name} is refused by Canvas (401 Invalid access token.): revoked, expired "
                f"or mistyped; give {name} a valid access token of {role}"
            )
        if key == "admin" or answer.kind in (answers.THROTTLED, answers.CANVAS_ERROR):
            continue  # an admin may or may not be a member; a throttled or failed answer tells nothing
        member = answer.kind in (answers.OK, answers.AI_UNAVAILABLE)  # the experience is there too
        if key == "outsider":
            if member:  # only an answer is certain: a 404 may be a Canvas that hides the course from outsiders
                raise SetupError(
                    f"{target.source}: tokens.outsider is a member of course {target.course_id} (answered "
                    f"{answer.status}); give tokens.outsider the token of a user not enrolled in the course"
                )
            continue
        if _not_member(answer):
            raise SetupError(
                f"{target.source}: {name} is not enrolled in course {target.course_id} ({answer.status} "
                f"unauthorized); give {name} the token of {role}"
            )
        if _feature_off(answer):
            raise SetupError(
                f"{target.source}: ai_experience_id {target.ai_experience_id} is not an experience of course "
                f"{target.course_id} (404 Resource Not Found to {name}); check the id"
            )
        if member:
            members.append(key)
    return members


def _check_roles(probe: _Probe, target: Target, members: list[str]) -> tuple[str | None, str | None]:
    """The role each member key claims; returns the course's numeric id and the student's user id, if said."""
    users: dict[str, frozenset[str]] = {}
    course_id: str | None = None
    for key in members:
        answer = probe.get(courses.course_path(target.course_id), target.tokens.of(key))
        read = courses.enrollment_types(answer.body) if answer.kind == answers.OK else None
        if read is None:
            continue  # a Canvas that hides the course's enrolments: the suites will tell
        course_id = str(answer.body.get("id")) if answer.body.get("id") is not None else course_id
        kinds, users[key] = read
        manages = bool(kinds & courses.MANAGING_TYPES)
        listed = ", ".join(sorted(kinds)) or "none"
        if key == "teacher" and kinds and not manages:
            raise SetupError(
                f"{target.source}: tokens.teacher is not a teacher of course {target.course_id} (its enrolments: "
                f"{listed}); give tokens.teacher the token of a teacher of the course"
            )
        if key != "teacher" and manages:
            name = target.tokens.key(key)
            raise SetupError(
                f"{target.source}: {name} is a teacher of course {target.course_id} (its enrolments: "
                f"{listed}), not a student; give {name} the token of {_ROLE_OF.get(key, _ROLE_OF['student'])}"
            )
    same = users.get("student", frozenset()) & users.get("other_student", frozenset())
    if same:
        raise SetupError(
            f"{target.source}: tokens.other_student is the same user as tokens.student (user {min(same)}); "
            "give tokens.other_student the token of a second student of the course"
        )
    student_ids = sorted(users.get("student", frozenset()))
    return course_id, student_ids[0] if len(student_ids) == 1 else None


def _check_admin(probe: _Probe, target: Target, student_id: str | None) -> None:
    """``tokens.admin`` must be able to masquerade (``as_user_id``) as the target's student."""
    if target.tokens.admin is None or student_id is None:
        return
    answer = probe.get(target.path(), target.tokens.admin, {"as_user_id": student_id})
    if answer.status == 401 and answer.body == bodies.INVALID_AS_USER_ID:
        raise SetupError(
            f"{target.source}: tokens.admin may not act as tokens.student's user {student_id} (401 Invalid "
            "as_user_id); give tokens.admin the token of a user allowed to become other users, or remove it"
        )


def _check_optional_ids(probe: _Probe, target: Target, course_id: str | None) -> None:
    student = target.tokens.student
    if target.other_ai_experience_id is not None:
        answer = probe.get(target.path(experience=target.other_ai_experience_id), student)
        if _feature_off(answer):
            raise SetupError(
                f"{target.source}: other_ai_experience_id {target.other_ai_experience_id} is not an experience of "
                f"course {target.course_id} (404 Resource Not Found); check the id or remove the line"
            )
    if target.course_sis_id is not None:
        answer = probe.get(courses.course_path(f"sis_course_id:{target.course_sis_id}"), student)
        named = str(answer.body.get("id")) if answer.kind == answers.OK and isinstance(answer.body, dict) else None
        if answer.status == 404:
            raise SetupError(
                f"{target.source}: course_sis_id {target.course_sis_id!r}: Canvas knows no course with this SIS id "
                f"(404); write the SIS id of course {target.course_id} or remove the line"
            )
        if named is not None and course_id is not None and named != course_id:
            raise SetupError(
                f"{target.source}: course_sis_id {target.course_sis_id!r} names course {named}, not course_id "
                f"{target.course_id}; write the SIS id of course {target.course_id} or remove the line"
            )
    if target.feature_disabled_course_id is not None:
        answer = probe.get(courses.course_path(target.feature_disabled_course_id), student)
        if answer.status == 404:
            raise SetupError(
                f"{target.source}: feature_disabled_course_id {target.feature_disabled_course_id}: Canvas knows no "
                "such course (404); check the id or remove the line"
            )


def preflight(target: Target, *, timeout: float = 10.0) -> PreflightResult:
    """Check ``target``'s setup with a few cheap requests and no AI call; raise ``SetupError`` if it is broken."""
    remember_secrets(target.secrets())
    started = time.monotonic()
    _check_base_url(target)
    probe = _Probe(target, timeout)
    try:
        _check_routes(probe, target)
        _check_course(probe, target)
        members = _check_tokens(probe, target)
        course_id, student_id = _check_roles(
            probe, target, [k for k in ("student", "other_student", "teacher") if k in members]
        )
        _check_admin(probe, target, student_id)
        _check_optional_ids(probe, target, course_id)
    finally:
        probe.client.close()
    return PreflightResult(probe.sent, time.monotonic() - started)
