"""The five routes of the AI Conversations API: matching a path to its operation, building paths.

Rails routes ``/api/v1/courses/:course_id/ai_experiences/:ai_experience_id/conversations`` and
below; a trailing ``.json`` is accepted. An unknown route and an unsupported method alike are
Rails's routing 404, never 405 (``match`` returns ``None`` for both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ACTIVE",
    "CREATE",
    "DESTROY",
    "OPERATIONS",
    "POST_MESSAGE",
    "SHOW",
    "Route",
    "conversations_path",
    "match",
]

ACTIVE: Final = "getActiveConversation"
CREATE: Final = "createConversation"
SHOW: Final = "getConversation"
POST_MESSAGE: Final = "postMessage"
DESTROY: Final = "deleteConversation"
OPERATIONS: Final = (ACTIVE, CREATE, SHOW, POST_MESSAGE, DESTROY)

# One compiled pattern for the three paths (one match per request, not one per path): the
# alternatives in Rails's order, each a named group that says which path matched.
_ROUTES: Final = re.compile(
    r"/api/v1/courses/(?P<course>[^/]+)/ai_experiences/(?P<exp>[^/]+)/conversations"
    r"(?:(?P<list>(?:\.json)?)|/(?P<one>[^/]+?)(?:\.json)?|/(?P<of>[^/]+)/messages(?:\.json)?)$"
)
_OPERATIONS: Final = {
    ("list", "GET"): ACTIVE,
    ("list", "POST"): CREATE,
    ("one", "GET"): SHOW,
    ("one", "DELETE"): DESTROY,
    ("of", "POST"): POST_MESSAGE,
}


@dataclass(frozen=True, slots=True)
class Route:
    """A request's operation and the references in its path (raw: not percent-decoded)."""

    operation_id: str
    course: str
    experience: str
    conversation: str | None


def match(method: str, path: str) -> Route | None:
    """The route ``method path`` reaches (``HEAD`` as ``GET``), or ``None``: Rails's routing 404."""
    found = _ROUTES.match(path)
    if found is None:
        return None
    course, experience, listed, one, of = found.groups()
    kind = "list" if listed is not None else "one" if one is not None else "of"
    operation = _OPERATIONS.get((kind, "GET" if method == "HEAD" else method))
    if operation is None:
        return None
    return Route(operation, course, experience, one if one is not None else of)


def conversations_path(
    course: str | int, experience: str | int, conversation: str | int | None = None, *, messages: bool = False
) -> str:
    """``/api/v1/courses/{course}/ai_experiences/{experience}/conversations[/{id}[/messages]]``."""
    path = f"/api/v1/courses/{course}/ai_experiences/{experience}/conversations"
    if conversation is not None:
        path += f"/{conversation}"
    return path + "/messages" if messages else path
