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
    "changed_message",
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
    """One broken transcript rule: what was seen and what Canvas gives.

    ``path`` says where in the answer (``$.messages[3].text``; a slice ``$.messages[2:]`` for what
    a turn appended), and ``expected_value`` / ``got_value`` what it should hold and held there.
    """

    rule: str
    detail: str
    expected: str = ""
    path: str = ""
    expected_value: Any = None
    got_value: Any = None


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


def _short(text: Any, redact: Redact, limit: int = 80, at: int = 0) -> str:
    shown = redact(repr(text))  # redact, then shorten: a cut could halve a token
    if len(shown) <= limit:
        return shown
    start = max(0, min(at - limit // 3, len(shown) - limit))
    size = f" ({len(text) if isinstance(text, str) else '?'} characters)"
    return (
        ("..." if start else "") + shown[start : start + limit] + ("..." if start + limit < len(shown) else "") + size
    )


def _differ_at(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def changed_message(before: list[Turn], after: list[Turn]) -> tuple[int, str] | None:
    """The first earlier message ``after`` changed, and which of its fields (``role`` or ``text``)."""
    for i, (was, now) in enumerate(zip(before, after, strict=False)):
        if was[0] != now[0]:
            return i, "role"
        if was[1] != now[1]:
            return i, "text"
    return None


def first_difference(before: list[Turn], after: list[Turn], redact: Redact = str) -> str:
    """How ``after`` fails to keep ``before`` as its first messages ("" when it keeps them).

    A changed text is quoted around its first differing character, after ``redact`` hid secrets
    in it (``canvas_ai_harness.redact``): two long texts that differ late do not look alike.
    """
    if len(after) < len(before):
        return f"the transcript shrank from {len(before)} to {len(after)} messages"
    changed = changed_message(before, after)
    if changed is None:
        return ""
    i, field_name = changed
    (was_role, was), (now_role, now) = before[i], after[i]
    if field_name == "role":
        return f"earlier message {i} changed: its role was {was_role}, now {now_role}"
    was_shown, now_shown = redact(repr(was)), redact(repr(now))
    at = _differ_at(was_shown, now_shown)
    return (
        f"earlier message {i} changed: its text ({now_role}) differs at character {max(0, at - 1)}: "
        f"was {_short(was, redact, at=at)}, now {_short(now, redact, at=at)}"
    )


def _earlier_problem(previous: list[Turn], new: list[Turn], redact: Redact) -> Problem | None:
    difference = first_difference(previous, new, redact)
    if not difference:
        return None
    changed = changed_message(previous, new)
    if changed is None:  # it shrank
        return Problem(
            EARLIER_UNCHANGED, difference, "earlier messages as they were", "$.messages", len(previous), len(new)
        )
    i, field_name = changed
    index = 0 if field_name == "role" else 1
    return Problem(
        EARLIER_UNCHANGED,
        difference,
        "earlier messages as they were",
        f"$.messages[{i}].{field_name}",
        previous[i][index],
        new[i][index],
    )


def _json_path(where: str) -> str:
    """``hidden_ids``' ``messages[1].conversation_id`` as ``$.messages[1].conversation_id``."""
    return "$" + ("" if where.startswith("[") else ".") + where


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
            Problem(NO_AI_ID, f"the AI service's id at {', '.join(where)}", "in show only", _json_path(where[0]))
            if where
            else None
        )
    new = turns(body)
    if new is None:
        return found
    if operation_id == routes.CREATE:
        roles = [role for role, _ in new]
        ok = roles == TURN_ROLES
        found[NEW_TRANSCRIPT] = (
            None
            if ok
            else Problem(
                NEW_TRANSCRIPT,
                f"a new transcript of roles {roles}",
                "[User, Assistant]",
                "$.messages[*].role",
                TURN_ROLES,
                roles,
            )
        )
    if operation_id in (routes.POST_MESSAGE, routes.ACTIVE, routes.SHOW) and previous is not None:
        found[EARLIER_UNCHANGED] = _earlier_problem(previous, new, redact)
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
                f"$.messages[{len(previous) if previous is not None else max(0, len(new) - 2)}:]",
                TURN_ROLES,
                [role for role, _ in new[len(previous) :]] if previous is not None else roles,
            )
        )
        if isinstance(sent, str) and len(new) >= 2:
            text = new[-2][1]
            at = _differ_at(redact(repr(text)), redact(repr(sent)))
            found[USER_TEXT] = (
                None
                if text == sent
                else Problem(
                    USER_TEXT,
                    f"{_short(text, redact, at=at)} came back for {_short(sent, redact, at=at)}: "
                    f"the appended User message is not the text that was sent (they differ at character "
                    f"{max(0, at - 1)})",
                    "the user's message, character for character",
                    f"$.messages[{len(new) - 2}].text",
                    sent,
                    text,
                )
            )
    return found
