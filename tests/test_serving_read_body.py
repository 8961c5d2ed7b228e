"""``serving.read_body``: an ASGI body read whole, in pieces, over its budget, or left half-sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from canvas_ai_harness.serving import ClientLeft, read_body


def _receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _read(*messages: dict[str, Any], limit: int = 10, headers: dict[str, str] | None = None) -> bytes | None:
    return asyncio.run(read_body(headers or {}, _receiver(*messages), limit))


def test_a_body_in_one_message_is_returned_whole() -> None:
    assert _read({"type": "http.request", "body": b"hello"}) == b"hello"


def test_no_body_is_empty_bytes() -> None:
    assert _read({"type": "http.request"}) == b""


def test_a_body_in_pieces_is_joined() -> None:
    pieces = [{"type": "http.request", "body": b"he", "more_body": True}, {"type": "http.request", "body": b"llo"}]
    assert _read(*pieces) == b"hello"


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([{"type": "http.request", "body": b"x" * 11}], id="one-message"),
        pytest.param(
            [{"type": "http.request", "body": b"x" * 6, "more_body": True}, {"type": "http.request", "body": b"x" * 6}],
            id="in-pieces",
        ),
    ],
)
def test_a_body_over_the_limit_is_none(messages: list[dict[str, Any]]) -> None:
    assert _read(*messages) is None


def test_a_declared_length_over_the_limit_is_none_before_reading() -> None:
    assert _read(limit=10, headers={"content-length": "11"}) is None  # no message to receive: none was read


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([{"type": "http.disconnect"}], id="at-once"),
        pytest.param(
            [{"type": "http.request", "body": b"he", "more_body": True}, {"type": "http.disconnect"}], id="midway"
        ),
    ],
)
def test_a_client_that_leaves_raises_client_left(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(ClientLeft):
        _read(*messages)
