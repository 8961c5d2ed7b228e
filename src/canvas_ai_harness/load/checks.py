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

**What is sampled, and what that means for the verdict.** A full check parses the answer (and
the transcript before it) and runs the JSON Schema validator: about as costly as the request
itself in the generator, so by default it runs on 5 % of the answers (``--contract-sample``).
A break that every answer shows (a wrong schema, a missing header, a turn that appends the wrong
messages) is then caught within the first few dozen answers of a run. A break in a share ``p``
of the answers is caught with probability ``1 - (1 - 0.05 p) ** n`` after ``n`` answers: a break
in 1 % of 10,000 answers 99.3 % of the time, in 0.1 % of them 39 %; ``--contract-sample 1``
checks every answer. What stays on every answer because it costs next to nothing: the status
(anything but the route's success status is not ``ok``, ``outcomes.py``), and
``may_hold_ai_id``, a byte search for the AI service's id keys (``canvas.transcript.HIDDEN_ID_KEYS``)
in the answers where that id must never appear; an answer it suspects is checked in full,
sampled or not, so a leak of the AI service's id is never missed on an answer that holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from canvas_ai_harness.canvas import routes, transcript
from canvas_ai_harness.load.wire import loads
from canvas_ai_harness.validation import SpecValidator

__all__ = ["ResponseChecker", "may_hold_ai_id"]

# A key in a JSON body is followed by its closing quote (one in a text would be escaped: \"); a
# key that ends with another ("llm_conversation_id", "conversation_id") needs no search of its own.
_KEY_ENDS: Final = [f'{key}"'.encode() for key in transcript.HIDDEN_ID_KEYS]
_AI_ID_NEEDLES: Final = tuple(e for e in _KEY_ENDS if not any(o != e and e.endswith(o) for o in _KEY_ENDS))
_NO_AI_ID_HERE: Final = frozenset((routes.CREATE, routes.ACTIVE, routes.POST_MESSAGE))

_WORDING: Final = {
    transcript.NO_AI_ID: "{detail}: it must appear in show only",
    transcript.NEW_TRANSCRIPT: "{detail}: a new transcript must be [User, Assistant]",
    transcript.TURN_APPENDS: "{detail}: a turn must append exactly [User, Assistant]",
    transcript.EARLIER_UNCHANGED: "{detail}; earlier messages must stay as they were",
    transcript.USER_TEXT: "{detail}",
}


def may_hold_ai_id(operation_id: str, body: bytes) -> bool:
    """Whether an answer where the AI service's id must not appear may hold it (cheap: a byte search).

    ``False`` is certain for plain JSON (a key spelled with ``\\u`` escapes aside); ``True`` only
    says that the full check (``canvas.transcript``'s rule) must look.
    """
    if operation_id in _NO_AI_ID_HERE:
        for needle in _AI_ID_NEEDLES:
            if needle in body:
                return True
    return False


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
            data = loads(body)
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
        return transcript.turns(loads(previous))
    except ValueError:
        return None  # the earlier body was not a transcript: nothing to compare with
