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

_PREFIX: Final = r"^/api/v1/courses/(?P<course>[^/]+)/ai_experiences/(?P<exp>[^/]+)/conversations"
_TABLE: Final[tuple[tuple[re.Pattern[str], dict[str, str]], ...]] = (
    (re.compile(_PREFIX + r"(?:\.json)?$"), {"GET": ACTIVE, "POST": CREATE}),
    (re.compile(_PREFIX + r"/(?P<id>[^/]+?)(?:\.json)?$"), {"GET": SHOW, "DELETE": DESTROY}),
    (re.compile(_PREFIX + r"/(?P<id>[^/]+)/messages(?:\.json)?$"), {"POST": POST_MESSAGE}),
)


@dataclass(frozen=True, slots=True)
class Route:
    """A request's operation and the references in its path (raw: not percent-decoded)."""

    operation_id: str
    course: str
    experience: str
    conversation: str | None


def match(method: str, path: str) -> Route | None:
    """The route ``method path`` reaches (``HEAD`` as ``GET``), or ``None``: Rails's routing 404."""
    method = "GET" if method == "HEAD" else method
    for pattern, operations in _TABLE:
        found = pattern.match(path)
        if found is not None:
            operation = operations.get(method)
            if operation is None:
                return None
            return Route(operation, found["course"], found["exp"], found.groupdict().get("id"))
    return None


def conversations_path(
    course: str | int, experience: str | int, conversation: str | int | None = None, *, messages: bool = False
) -> str:
    """``/api/v1/courses/{course}/ai_experiences/{experience}/conversations[/{id}[/messages]]``."""
    path = f"/api/v1/courses/{course}/ai_experiences/{experience}/conversations"
    if conversation is not None:
        path += f"/{conversation}"
    return path + "/messages" if messages else path
