"""The transcript's rules: what a new one is, what one turn may change, where the AI's id may appear.

``messages`` is the whole transcript, oldest first, every time (``shared/canvas-facts.md``):

- a new conversation's transcript is exactly ``[User, Assistant]`` (the hidden prompt, the first
  question);
- a successful post_message appends exactly the user's text, unchanged, then the assistant's
  reply, and leaves every earlier message as it was;
- the AI service's own conversation id (``llm_conversation_id``, ``conversation_id``) is never in
  create, active or post_message answers, at any depth; only show exposes it.

``check()`` returns, for every rule that applies to one answer, its ``Problem`` or ``None``;
the contract rulebook and the load checks word the problems their own way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from canvas_ai_harness.canvas import routes

__all__ = [
    "EARLIER_UNCHANGED",
    "HIDDEN_ID_KEYS",
    "NEW_TRANSCRIPT",
    "NO_AI_ID",
    "TURN_APPENDS",
    "TURN_ROLES",
    "USER_TEXT",
    "Problem",
    "Turn",
    "check",
    "first_difference",
    "hidden_ids",
    "turns",
]

# A new transcript is exactly these two roles, and each post_message appends exactly them again.
TURN_ROLES: Final = ["User", "Assistant"]
# The AI service's own conversation id: only show may expose it (Canvas's tests assert it absent).
HIDDEN_ID_KEYS: Final = ("llm_conversation_id", "conversation_id")

NO_AI_ID: Final = "no-ai-id"
NEW_TRANSCRIPT: Final = "new-transcript"
TURN_APPENDS: Final = "turn-appends-user-and-assistant"
EARLIER_UNCHANGED: Final = "earlier-unchanged"
USER_TEXT: Final = "user-text-unchanged"

Turn = tuple[str, Any]  # (role, text) of one message
Redact = Callable[[str], str]  # hides secrets in a text (canvas_ai_harness.redact.Redactor)


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken transcript rule: what was seen and what Canvas gives."""

    rule: str
    detail: str
    expected: str = ""


def turns(body: Any) -> list[Turn] | None:
    """The transcript of an answer as ``(role, text)`` pairs; ``None`` when it has none."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    return [(str(m.get("role")), m.get("text")) if isinstance(m, dict) else ("?", "?") for m in messages]


def hidden_ids(value: Any, where: str = "") -> Iterator[str]:
    """Where the AI service's id appears in ``value``, at any depth: ``"messages[1].conversation_id"``."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if key in HIDDEN_ID_KEYS:
                yield here
            yield from hidden_ids(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from hidden_ids(item, f"{where}[{i}]")


def _short(text: Any, redact: Redact, limit: int = 80) -> str:
    shown = redact(repr(text))  # redact, then shorten: a cut could halve a token
    return shown if len(shown) <= limit else shown[:limit] + f"... ({len(text) if isinstance(text, str) else '?'})"


def first_difference(before: list[Turn], after: list[Turn], redact: Redact = str) -> str:
    """How ``after`` fails to keep ``before`` as its first messages ("" when it keeps them).

    ``redact`` is applied to each text before it is shortened (``canvas_ai_harness.redact``).
    """
    if len(after) < len(before):
        return f"the transcript shrank from {len(before)} to {len(after)} messages"
    for i, (was, now) in enumerate(zip(before, after, strict=False)):
        if was != now:
            was_text, now_text = _short(was[1], redact), _short(now[1], redact)
            return f"earlier message {i} changed: was {was[0]}: {was_text}, now {now[0]}: {now_text}"
    return ""


def check(
    operation_id: str, body: Any, *, previous: list[Turn] | None = None, sent: Any = None, redact: Redact = str
) -> dict[str, Problem | None]:
    """Every transcript rule that applies to a successful answer ``body``, with its problem or ``None``.

    ``previous`` is the transcript as last seen (before a post_message); ``sent`` the message the
    client sent, when it was a plain string. ``redact`` hides secrets in the texts a problem
    quotes, before they are shortened.
    """
    found: dict[str, Problem | None] = {}
    if not isinstance(body, dict):
        return found
    if operation_id in (routes.CREATE, routes.ACTIVE, routes.POST_MESSAGE):
        where = list(hidden_ids(body))
        found[NO_AI_ID] = (
            Problem(NO_AI_ID, f"the AI service's id at {', '.join(where)}", "in show only") if where else None
        )
    new = turns(body)
    if new is None:
        return found
    if operation_id == routes.CREATE:
        roles = [role for role, _ in new]
        ok = roles == TURN_ROLES
        found[NEW_TRANSCRIPT] = (
            None if ok else Problem(NEW_TRANSCRIPT, f"a new transcript of roles {roles}", "[User, Assistant]")
        )
    if operation_id in (routes.POST_MESSAGE, routes.ACTIVE, routes.SHOW) and previous is not None:
        difference = first_difference(previous, new, redact)
        found[EARLIER_UNCHANGED] = (
            Problem(EARLIER_UNCHANGED, difference, "earlier messages as they were") if difference else None
        )
    if operation_id == routes.POST_MESSAGE:
        roles = [role for role, _ in new[-2:]]
        grew = len(new) - len(previous) if previous is not None else None
        ok = roles == TURN_ROLES and grew in (None, 2)
        before = f"{len(previous)} messages before, " if previous is not None else ""
        grown = f"grew by {grew} messages, " if grew is not None else ""
        found[TURN_APPENDS] = (
            None
            if ok
            else Problem(
                TURN_APPENDS,
                f"{before}{len(new)} after (the transcript {grown}appended roles {roles})",
                "the previous transcript plus [User, Assistant]",
            )
        )
        if isinstance(sent, str) and len(new) >= 2:
            text = new[-2][1]
            found[USER_TEXT] = (
                None
                if text == sent
                else Problem(
                    USER_TEXT,
                    f"{_short(text, redact)} came back for {_short(sent, redact)}: "
                    "the appended User message is not the text that was sent",
                    "the user's message, character for character",
                )
            )
    return found
