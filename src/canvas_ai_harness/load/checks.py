"""The contract check of a sample of load responses: the spec, then the conversation rules.

``ResponseChecker.check`` runs ``SpecValidator.validate_response`` (status, headers, content
type, schema from ``specs/openapi.yaml``), then the rules a schema cannot say
(``shared/canvas-facts.md``):

- a new conversation's transcript is exactly ``[User, Assistant]``;
- a successful post_message appends exactly the user's text and then an Assistant reply, and
  leaves every earlier message as it was;
- the AI service's own id (``llm_conversation_id``) appears in show only, at any depth.

Those rules are ``canvas.transcript``'s; this module words each problem as one line naming the
operation and what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Final

from canvas_ai_harness.canvas import transcript
from canvas_ai_harness.validation import SpecValidator

__all__ = ["ResponseChecker"]

_WORDING: Final = {
    transcript.NO_AI_ID: "{detail}: it must appear in show only",
    transcript.NEW_TRANSCRIPT: "{detail}: a new transcript must be [User, Assistant]",
    transcript.TURN_APPENDS: "{detail}: a turn must append exactly [User, Assistant]",
    transcript.EARLIER_UNCHANGED: "{detail}; earlier messages must stay as they were",
    transcript.USER_TEXT: "{detail}",
}


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
        redact: Callable[[str], str] = str,
    ) -> list[str]:
        """Problems with one response; ``previous`` is the transcript body before a post_message.

        The conversation rules come first (their messages are the most telling), then the spec's.
        Each problem is ``redact``-ed whole, before anyone shortens it.
        """
        violations = [
            redact(f"{operation_id} {status}: {violation}")
            for violation in self.validator.validate_response(operation_id, status, headers, body)
        ]
        if status >= 300:
            return violations
        try:
            data = json.loads(body)
        except ValueError:
            return violations or [f"{operation_id} {status}: body is not JSON"]
        found = transcript.check(operation_id, data, previous=_transcript(previous), sent=sent, redact=redact)
        problems = [
            redact(f"{operation_id} {status}: " + _WORDING[problem.rule].format(detail=problem.detail))
            for problem in found.values()
            if problem is not None
        ]
        return problems + violations


def _transcript(previous: bytes | None) -> list[transcript.Turn] | None:
    if previous is None:
        return None
    try:
        return transcript.turns(json.loads(previous))
    except ValueError:
        return None  # the earlier body was not a transcript: nothing to compare with
