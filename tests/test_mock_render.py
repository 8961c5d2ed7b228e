"""The faithful mock writes conversations straight to bytes; a mock with body hooks builds dicts.

Both must answer the same bytes: the renderer's fast path is the dict path, encoded once. Every
profile, with and without string ids, HEAD included, is compared answer by answer; a hook that
changes a body turns the fast path off.
"""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from canvas_ai_harness.canvas.bodies import CANVAS_STRING_IDS
from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig
from canvas_ai_harness.mock.hooks import ServiceHooks
from canvas_ai_harness.mock.store import ConversationStore

BASE = "/api/v1/courses/101/ai_experiences/7/conversations"
STUDENT, TEACHER = "mock-student-token", "mock-teacher-token"


class _SameBodies(ServiceHooks):
    """Changes nothing, but overrides a body hook: the service must take the dict path."""

    def answered(
        self, service: CanvasService, operation_id: str, user: Any, experience: Any, status: int, body: Any
    ) -> tuple[int, Any]:
        return status, body


def _script(service: CanvasService, accept: str) -> list[tuple[int, bytes]]:
    def call(method: str, path: str, token: str, message: str | None = None) -> tuple[int, bytes]:
        headers = {"authorization": f"Bearer {token}", "accept": accept}
        body = b""
        if message is not None:
            headers["content-type"] = "application/json"
            body = json.dumps({"message": message}).encode()
        response = service.respond(ApiRequest(method, path, headers=headers, body=body), sleep=None)
        return response.status, response.body

    answers = [call("GET", BASE, STUDENT), call("POST", BASE, STUDENT)]
    cid = service.store.active_for(11, 7).id  # type: ignore[union-attr]
    for text in ("I think the leaf turns sunlight into sugar", "ok", "Chlorophyll — it's green! ünïcödé \\u00e9"):
        answers.append(call("POST", f"{BASE}/{cid}/messages", STUDENT, text))
    answers += [call("GET", BASE, STUDENT), call("HEAD", BASE, STUDENT), call("GET", f"{BASE}/{cid}", TEACHER)]
    answers += [call("POST", BASE, STUDENT), call("GET", f"{BASE}/{cid}.json", TEACHER)]
    answers.append(call("POST", f"{BASE}/{cid}/messages", TEACHER, "a teacher posts into a student's"))
    return answers


@pytest.mark.parametrize("profile", ["completed", "ended"])
@pytest.mark.parametrize(
    "accept", [pytest.param("application/json", id="integer-ids"), pytest.param(CANVAS_STRING_IDS, id="string-ids")]
)
def test_the_fast_path_answers_the_same_bytes_as_the_dict_path(profile: str, accept: str) -> None:
    fast = CanvasService(MockConfig(profile=profile, seed=3))
    slow = CanvasService(MockConfig(profile=profile, seed=3), hooks=_SameBodies())
    assert fast.render.plain and not slow.render.plain
    answers = _script(fast, accept)
    assert answers == _script(slow, accept)
    assert [status for status, _ in answers] == [200, 201, 200, 200, 200, 200, 200, 200, 201, 200, 200]


def test_stored_messages_and_conversations_are_not_tracked_by_the_collector() -> None:
    store = ConversationStore()
    conversation = store.add(1, 101, 7, "llm", [store.new_message("User", "hi")], datetime.now(UTC))
    store.append(
        conversation, [store.new_message("User", "more"), store.new_message("Assistant", "yes")], 1, datetime.now(UTC)
    )
    for _ in range(2):  # a tuple of untracked values is untracked when a collection sees it; nested, in turn
        gc.collect()
    row = store._by_id[conversation.id]
    assert not gc.is_tracked(row)
    assert not any(gc.is_tracked(record) for record in row[7])
