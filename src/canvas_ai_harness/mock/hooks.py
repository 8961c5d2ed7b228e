"""The service's public extension points: ``ServiceHooks``, whose every default changes nothing.

``CanvasService`` calls its hooks at fixed points of each request; a subclass of
``ServiceHooks`` given to it (only ``mock/faults.py`` makes one, for tests) may change what
passes through them. The faithful mock runs the defaults. A hook answers early by raising
``Answer``, as the service itself does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from canvas_ai_harness.canvas.lifecycle import Refusal

if TYPE_CHECKING:
    from canvas_ai_harness.mock.service import ApiRequest, ApiResponse, CanvasService
    from canvas_ai_harness.mock.store import Conversation, Message
    from canvas_ai_harness.mock.world import Experience, User

__all__ = ["Answer", "ServiceHooks"]


class Answer(Exception):
    """Raised to answer early (an authorization failure, a 400...) with Canvas's JSON."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class ServiceHooks:
    """Where a ``CanvasService`` may be changed from outside. Each default changes nothing."""

    def reset(self, service: CanvasService) -> None:
        """The service has (re)built its world, store and profile."""

    def request(self, service: CanvasService, request: ApiRequest) -> ApiRequest:
        """A request before routing (after throttling); may answer early by raising ``Answer``."""
        return request

    def response(self, request: ApiRequest, response: ApiResponse) -> None:
        """The answer to ``request``, before it is recorded and sent."""

    def reach(self, operation_id: str, conversation: Conversation, user: User, refused: Refusal) -> Refusal | None:
        """Canvas refuses ``user`` the ``conversation`` with ``refused``; return what to answer instead."""
        return refused

    def closes(self, conversation: Conversation, cause: str) -> bool:
        """Whether a create or a destroy (``cause``) closes ``conversation``."""
        return True

    def message(self, value: Any) -> Any:
        """post_message's ``message`` parameter, before Canvas reads it."""
        return value

    def turn(self, messages: list[Message]) -> list[Message]:
        """The messages one post_message appends to the transcript."""
        return messages

    def answered(
        self, service: CanvasService, operation_id: str, user: User, experience: Experience, status: int, body: Any
    ) -> tuple[int, Any]:
        """An action's status and body, before serialisation."""
        return status, body

    def message_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """One message as JSON."""
        return body

    def conversation_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A conversation as JSON (``{id, messages, progress}``)."""
        return body
