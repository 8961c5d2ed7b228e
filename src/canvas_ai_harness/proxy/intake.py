"""Reading a request body within the proxy's budget (``ProxyConfig.max_body_bytes``).

The proxy holds at most the budget: a body announced or found larger is not read further and is
answered with the proxy's own 413 (``too_large_answer``), forwarded nowhere; uvicorn drops the
rest as it arrives (within the read timeout). A client that leaves mid-body, or is timed out by
the server, has sent a truncated request: it is never forwarded either.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.types import Receive

from canvas_ai_harness import serving

__all__ = ["CLIENT_LEFT", "LEFT", "TOO_LARGE", "read_body", "too_large_answer"]

TOO_LARGE: Final = "413 body too large (not forwarded)"  # the report's answer for a body over the budget
CLIENT_LEFT: Final = "client left mid-body (not forwarded)"  # the report's answer for a truncated request
LEFT: Final = b"<client left>"  # read_body's answer for it (compared by identity)
_JSON: Final = (b"content-type", b"application/json; charset=utf-8")


async def read_body(headers: dict[str, str], receive: Receive, limit: int) -> bytes | None:
    """The request body; ``None`` when it is longer than ``limit`` bytes (then read no further);
    ``LEFT`` when the client left (or was timed out) before sending all of it."""
    try:
        return await serving.read_body(headers, receive, limit)
    except serving.ClientLeft:
        return LEFT


def too_large_answer(limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The proxy's own 413: the body is over its budget and was neither read whole nor forwarded."""
    message = f"canvas-ai-harness proxy: the request body is over {limit} bytes (--max-body-bytes); not forwarded"
    body = json.dumps({"error": message}).encode()
    # The server discards the rest of the body as it arrives (within the read timeout), never holding it.
    return 413, [_JSON, (b"content-length", str(len(body)).encode())], body
