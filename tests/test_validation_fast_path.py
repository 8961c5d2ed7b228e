"""The jsonschema_rs fast path of SpecValidator never changes a verdict, only its speed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canvas_ai_harness import validation
from canvas_ai_harness.canvas import bodies
from canvas_ai_harness.validation import SpecValidator

pytest.importorskip("jsonschema_rs")

MESSAGES = [{"role": "User", "text": "prompt"}, {"role": "Assistant", "text": "question?"}]
PROGRESS = {"current": 1, "total": 2, "percentage": 50, "objectives": [{"objective": "o", "status": "covered"}]}
CASES: list[tuple[str, int, Any]] = [
    ("getActiveConversation", 200, {}),
    ("getActiveConversation", 200, {"id": 1, "messages": MESSAGES, "progress": PROGRESS}),
    ("getActiveConversation", 200, {"id": 1, "messages": MESSAGES, "progress": None, "extra": 1}),
    ("createConversation", 201, {"id": None, "messages": MESSAGES, "progress": None}),
    ("createConversation", 201, {"id": 2**70, "messages": MESSAGES, "progress": None}),
    ("createConversation", 201, {"id": 1, "messages": MESSAGES[:1], "progress": {"current": -1}}),
    ("postMessage", 400, bodies.BLANK_MESSAGE),
    ("postMessage", 400, {"error": 3}),
    (
        "getConversation",
        200,
        {
            "id": 1,
            "user_id": "11",
            "llm_conversation_id": None,
            "workflow_state": "active",
            "created_at": "2026-02-15T08:56:18Z",
            "updated_at": "yesterday",
            "messages": MESSAGES,
            "progress": None,
        },
    ),
    ("deleteConversation", 200, {"message": "Conversation completed successfully"}),
    ("deleteConversation", 200, {"message": "Deleted"}),
]


@pytest.mark.parametrize(("operation", "status", "body"), CASES)
def test_fast_path_gives_the_same_violations(
    monkeypatch: pytest.MonkeyPatch, operation: str, status: int, body: Any
) -> None:
    headers = {"content-type": "application/json"}
    payload = json.dumps(body).encode()
    fast = SpecValidator().validate_response(operation, status, headers, payload)
    monkeypatch.setattr(validation, "_rs", None)
    slow = SpecValidator().validate_response(operation, status, headers, payload)
    assert fast == slow
