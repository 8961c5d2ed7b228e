"""The parts of an HTTP message the proxy reads: end-to-end headers, a header table, the decoded body."""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["HOP_BY_HOP", "decoded_body", "end_to_end", "header_dict"]

# RFC 9110 section 7.6.1: these describe one connection and are never forwarded.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def end_to_end(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers meant for the other end: hop-by-hop ones and those ``Connection`` names dropped."""
    named = {t.strip().lower() for k, v in raw if k.lower() == b"connection" for t in v.split(b",")}
    return [(k, v) for k, v in raw if k.lower() not in HOP_BY_HOP and k.lower() not in named]


def header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " as RFC 9110 allows."""
    out: dict[str, str] = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def decoded_body(lower: dict[str, str], body: bytes) -> bytes | None:
    """The response's body with any gzip/deflate undone (``None``: cannot decode)."""
    encoding = lower.get("content-encoding", "identity").strip().lower()
    decoded: bytes | None = body
    try:
        if encoding == "gzip":
            decoded = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoded = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            decoded = None
    except zlib.error:
        decoded = None
    return decoded
