"""``GET /api/v1/courses/:id``: the one Canvas route outside the five that the harness calls.

The preflight asks it, once per token, which enrolments the caller has in the course (Canvas
lists the caller's own in the course's ``enrollments``), and whether a course reference
(numeric or ``sis_course_id:``) exists; no AI call is involved. Canvas answers in the order of
the five routes: an invalid token 401, an unknown or deleted course 404
``{"errors": [{"message": "The specified resource does not exist."}]}``, no token 401
unauthenticated, a non-member 403 (401 on older sites) unauthorized, else 200 with the course.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["COURSE", "ENROLLMENT_ROLES", "MANAGING_TYPES", "course_body", "course_path", "enrollment_types", "match"]

COURSE: Final = "getCourse"
_PATH: Final = re.compile(r"^/api/v1/courses/(?P<course>[^/]+?)(?:\.json)?$")
# Canvas's enrolment types and their base roles.
ENROLLMENT_ROLES: Final = {
    "teacher": "TeacherEnrollment",
    "ta": "TaEnrollment",
    "designer": "DesignerEnrollment",
    "student": "StudentEnrollment",
    "observer": "ObserverEnrollment",
}
# [inferred] The base roles that may manage assignments by default: Canvas's "teachers" for the
# AI Conversations routes (show, any conversation). Students and observers may not.
MANAGING_TYPES: Final = frozenset({"teacher", "ta", "designer"})


def match(method: str, path: str) -> str | None:
    """The course reference of ``GET /api/v1/courses/:id`` (``HEAD`` as ``GET``), else ``None``."""
    found = _PATH.match(path) if method in ("GET", "HEAD") else None
    return found["course"] if found else None


def course_path(course: str | int) -> str:
    return f"/api/v1/courses/{course}"


def course_body(course_id: int, name: str, enrollments: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """The course as Canvas shows it to a caller whose enrolments are ``(type, user_id)`` pairs."""
    return {
        "id": course_id,
        "name": name,
        "course_code": name,
        "workflow_state": "available",
        "enrollments": [
            {
                "type": kind,
                "role": ENROLLMENT_ROLES[kind],
                "user_id": user_id,
                "enrollment_state": "active",
                "limit_privileges_to_course_section": False,
            }
            for kind, user_id in enrollments
        ],
    }


def enrollment_types(body: Any) -> tuple[frozenset[str], frozenset[str]] | None:
    """The enrolment types and user ids in a course body, or ``None`` when it lists none readable."""
    if not isinstance(body, dict) or not isinstance(body.get("enrollments"), list):
        return None
    found = [e for e in body["enrollments"] if isinstance(e, dict) and isinstance(e.get("type"), str)]
    kinds = frozenset(str(e["type"]).lower().removesuffix("enrollment") for e in found)
    users = frozenset(str(e["user_id"]) for e in found if e.get("user_id") is not None)
    return kinds, users
