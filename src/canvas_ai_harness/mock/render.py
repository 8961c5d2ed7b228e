"""A conversation as Canvas shows it: ``{id, messages, progress}``, as a dict or straight to bytes.

``conversation_json`` builds the dict every hook may change (``ServiceHooks.message_body``,
``conversation_body``, ``answered``). ``conversation_bytes`` writes the same JSON, byte for byte,
from the messages the store encoded once (``store.Record``) and progress encoded once per
experience and count of covered objectives: the service takes it whenever its hooks change no
body, the faithful mock's postMessage path. A test holds the two to the same bytes in every
profile, with and without string ids.
"""

from __future__ import annotations

from typing import Any

import orjson

from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.canvas.answers import Profile
from canvas_ai_harness.mock.hooks import ServiceHooks
from canvas_ai_harness.mock.store import Conversation, Message
from canvas_ai_harness.mock.world import Experience

__all__ = ["Renderer", "progress"]

_FEEDBACK = b',"feedback":[]}'
_ID = b'{"id":%d,"messages":[%b],"progress":%b}'
_STRING_ID = b'{"id":"%d","messages":[%b],"progress":%b}'


def progress(experience: Experience, covered: int) -> dict[str, Any] | None:
    """``progress`` (``canvas-facts.md``): ``None`` when the experience has no objectives."""
    total = len(experience.objectives)
    if total == 0:
        return None
    current = min(covered, total)
    return {
        "current": current,
        "total": total,
        "percentage": bodies.percentage(current, total),
        "objectives": [
            {"objective": o, "status": "covered" if i < current else ""} for i, o in enumerate(experience.objectives)
        ],
    }


class Renderer:
    """Conversation bodies for one profile and one set of hooks."""

    def __init__(self, profile: Profile, hooks: ServiceHooks) -> None:
        self.profile = profile
        self.hooks = hooks
        # (objectives, covered) -> progress as JSON; objectives are few, covered at most their number.
        self._progress: dict[tuple[tuple[str, ...], int], bytes] = {}
        kind = type(hooks)
        self.plain = all(
            getattr(kind, name) is getattr(ServiceHooks, name)
            for name in ("answered", "message_body", "conversation_body")
        )  # no hook changes a body: conversation_bytes may answer

    def message_json(self, message: Message, *, feedback: bool) -> dict[str, Any]:
        """One message as Canvas shows it in this profile."""
        body: dict[str, Any] = {"role": message.role, "text": message.text}
        if self.profile.message_ids:
            body = {"id": message.id, **body}
            if feedback:
                body["feedback"] = []
        return self.hooks.message_body(body)

    def conversation_json(self, conv: Conversation, experience: Experience, *, feedback: bool) -> dict[str, Any]:
        """``{id, messages, progress}``: what create, active and post_message answer."""
        body = {
            "id": conv.id,
            "messages": [self.message_json(m, feedback=feedback) for m in conv.messages],
            "progress": progress(experience, conv.covered),
        }
        return self.hooks.conversation_body(body)

    def conversation_bytes(
        self, conv: Conversation, experience: Experience, *, feedback: bool, string_ids: bool
    ) -> bytes:
        """``orjson.dumps`` of ``conversation_json`` (after ``stringify_ids`` when ``string_ids``), made
        of the JSON the store encoded once. Only for hooks that change no body (``plain``)."""
        records = conv.records
        if self.profile.message_ids:
            # {"id": N, "role": ..., "text": ...[, "feedback": []]}: the stored {"role", "text"} inside.
            head = b'{"id":"%d",' if string_ids else b'{"id":%d,'
            if feedback:
                messages = b",".join(head % r[0] + r[1][1:-1] + _FEEDBACK for r in records)
            else:
                messages = b",".join(head % r[0] + r[1][1:] for r in records)
        else:
            messages = b",".join([r[1] for r in records])
        key = (experience.objectives, conv.covered)
        encoded = self._progress.get(key)
        if encoded is None:
            encoded = self._progress[key] = orjson.dumps(progress(experience, conv.covered))
        return (_STRING_ID if string_ids else _ID) % (conv.id, messages, encoded)
