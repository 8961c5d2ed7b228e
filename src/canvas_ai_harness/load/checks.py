"""The contract check of a sample of load responses: the spec, then the conversation rules.

``ResponseChecker.check`` runs ``SpecValidator.validate_response`` (status, headers, content
type, schema from ``specs/openapi.yaml``), then the rules a schema cannot say
(``shared/canvas-facts.md``):

- a new conversation's transcript is exactly ``[User, Assistant]``;
- a successful post_message appends exactly the user's text and then an Assistant reply, and
  leaves every earlier message as it was;
- the AI service's own id (``llm_conversation_id``) appears in show only.

Each problem is one line naming the operation and what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from canvas_ai_harness import rules
from canvas_ai_harness.validation import SpecValidator

__all__ = ["ResponseChecker"]

_SHOW = "getConversation"


def _turns(messages: Any) -> list[tuple[Any, Any]] | None:
    if not isinstance(messages, list):
        return None
    out = []
    for message in messages:
        if not isinstance(message, dict):
            return None
        out.append((message.get("role"), message.get("text")))
    return out


class ResponseChecker:
    """Checks sampled responses; one instance per process (the validator caches compiled schemas)."""

    def __init__(self, validator: SpecValidator | None = None) -> None:
        self._validator = validator

    @property
    def validator(self) -> SpecValidator:
        if self._validator is None:
            self._validator = SpecValidator()
        return self._validator

    def check(
        self,
        operation_id: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        previous: bytes | None = None,
        sent: str | None = None,
    ) -> list[str]:
        """Problems with one response; ``previous`` is the transcript body before a post_message.

        The conversation rules come first (their messages are the most telling), then the spec's.
        """
        violations = [
            f"{operation_id} {status}: {violation}"
            for violation in self.validator.validate_response(operation_id, status, headers, body)
        ]
        if status >= 300:
            return violations
        try:
            data = json.loads(body)
        except ValueError:
            return violations or [f"{operation_id} {status}: body is not JSON"]
        return _rules(operation_id, data, previous, sent) + violations


def _rules(operation_id: str, data: Any, previous: bytes | None, sent: str | None) -> list[str]:
    if not isinstance(data, dict):
        return []
    problems = []
    if operation_id != _SHOW:
        for key in rules.HIDDEN_ID_KEYS:
            if key in data:
                problems.append(f"{operation_id}: {key!r} must appear in show only")
    turns = _turns(data.get("messages")) if "messages" in data else None
    if operation_id == "createConversation" and turns is not None:
        roles = [role for role, _ in turns]
        if roles != rules.TURN_ROLES:
            problems.append(f"createConversation 201: a new transcript must be [User, Assistant], got {roles}")
    if operation_id == "postMessage" and turns is not None and previous is not None:
        problems += _appended(turns, previous, sent)
    return problems


def _appended(turns: list[tuple[Any, Any]], previous: bytes, sent: str | None) -> list[str]:
    try:
        before = _turns(json.loads(previous).get("messages"))
    except (ValueError, AttributeError):
        return []  # the earlier body was not a transcript: nothing to compare with
    if before is None:
        return []
    where = "postMessage 200"
    if len(turns) != len(before) + 2:
        return [f"{where}: the transcript grew by {len(turns) - len(before)} messages; it must grow by exactly 2"]
    problems = []
    if turns[: len(before)] != before:
        first = next(i for i, (a, b) in enumerate(zip(turns, before, strict=False)) if a != b)
        problems.append(f"{where}: earlier message {first} changed; earlier messages must stay as they were")
    (user_role, user_text), (reply_role, _) = turns[-2], turns[-1]
    if [user_role, reply_role] != rules.TURN_ROLES:
        problems.append(f"{where}: appended roles are [{user_role}, {reply_role}]; they must be [User, Assistant]")
    elif sent is not None and user_text != sent:
        problems.append(f"{where}: the appended User message is not the text that was sent")
    return problems
