"""Keep tokens out of output, logs, reports and reproduction commands.

``Redactor`` replaces every known secret, and anything that looks like a token in an
``Authorization: Bearer`` header or an ``access_token`` parameter, with ``[REDACTED]``.
``curl_command`` builds a reproducible ``curl`` line whose token is read from the environment.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "TOKEN_ENV", "Redactor", "curl_command"]

REDACTED = "[REDACTED]"
TOKEN_ENV = "CANVAS_TOKEN"
# The placeholder that curl_command writes is not a token: leave "Bearer $CANVAS_TOKEN" readable.
_BEARER = re.compile(r"(?i)(bearer\s+)(?!\$" + TOKEN_ENV + r"\b)[^\s\"',;]+")
_ACCESS_TOKEN = re.compile(r"(?i)(access_token=)[^&\s\"']+")
_MIN_SECRET = 4  # shorter strings would redact ordinary words


class Redactor:
    """Redact a fixed set of secrets plus anything shaped like a bearer token."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)  # longest first: one secret may contain another

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        return _ACCESS_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name: self(value) for name, value in headers.items()}


def curl_command(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str | None,
    redactor: Redactor,
) -> str:
    """A ``curl`` line that reproduces a request; the token comes from ``$CANVAS_TOKEN``."""
    parts = ["curl", "-i", "-X", method.upper()]
    for name, value in headers.items():
        if name.lower() == "authorization":
            parts += ["-H", f'"Authorization: Bearer ${TOKEN_ENV}"']
            continue
        if name.lower() in ("content-length", "host", "user-agent", "accept-encoding", "connection"):
            continue
        parts += ["-H", shlex.quote(f"{name}: {redactor(value)}")]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        parts += ["--data-binary", shlex.quote(redactor(text))]
    parts.append(shlex.quote(redactor(url)))
    return " ".join(parts)
