"""Keep tokens out of output, logs, reports and reproduction commands.

``Redactor`` replaces every known secret, and anything that looks like a token in an
``Authorization: Bearer`` header or an ``access_token`` parameter, with ``[REDACTED]``; the
harness's own help text ("send a Bearer <token>", "a Bearer token") stays readable. A known
secret is found in every form a report may carry it: as is, percent-encoded (either hex case,
``+`` for a space), JSON-escaped (``\\uXXXX``, ``\\/``) or HTML/XML-escaped, and any mix of these.
Redact whole texts, then shorten them: a token cut in two by a shortened text is no longer whole,
and no redactor can find its halves.
``redact_data`` applies a redactor to every string (and key) of a JSON-like value: the contract
and proxy reports redact before they serialise or shorten anything. ``curl_command`` builds a
reproducible ``curl`` line whose token is read from the environment.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "TOKEN_ENV", "Redactor", "curl_command", "redact_data"]

REDACTED = "[REDACTED]"
TOKEN_ENV = "CANVAS_TOKEN"


# What follows "Bearer" in prose, not a token: a plain word ("a Bearer token"), a placeholder
# ("Bearer <token>", also HTML-escaped), an ellipsis, what was already redacted, and an auth-param
# (WWW-Authenticate's 'Bearer realm="canvas-lms"'). A real token has a digit, a mark such as ~ - _ . / + =
# or mixed case, or is longer than any word; and every token the harness knows is redacted by value.
_PROSE_WORD = re.compile(r"[A-Za-z][a-z]{0,14}[.:!?)\]]*|<[^<>\s]{1,40}>[.:!?)\]]*")  # the whole value
_PROSE_START = re.compile(r"&lt;[^&\s]{1,40}&gt;|\[REDACTED\]|\.\.\.|…|[A-Za-z_]+=\"")  # where the value starts
# In a header ("Authorization: Bearer x", also as JSON) the value is a token whatever it looks like.
_IN_HEADER = re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?$")


# The variable curl_command writes is not a token: leave "Bearer $CANVAS_TOKEN" (and the target
# file's own variables, "Bearer $CANVAS_STUDENT_TOKEN", when the redactor is told them) readable.
def _bearer(variables: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(name) for name in sorted(set(variables), key=len, reverse=True))
    return re.compile(r"(?i)(bearer\s+)(?!\$(?:" + names + r")\b)([^\s\"',;]+)")


def _bearer_value(match: re.Match[str]) -> str:
    """``Bearer [REDACTED]``, or the match unchanged where the word after Bearer is prose, not a token."""
    text, start = match.string, match.start()
    prose = _PROSE_WORD.fullmatch(match.group(2)) or _PROSE_START.match(text, match.start(2))
    if prose and not _IN_HEADER.search(text, max(0, start - 40), start):
        return match.group(0)
    return match.group(1) + REDACTED


_BEARER = _bearer([TOKEN_ENV])
_ACCESS_TOKEN = re.compile(r"(?i)(access_token=)[^&\s\"']+")
_CREDENTIAL_HEADERS = frozenset({"cookie", "set-cookie", "proxy-authorization", "x-csrf-token"})
_MIN_SECRET = 4  # shorter strings would redact ordinary words
_ESCAPES = ("%", "\\", "&", "+")  # a text without any of these holds secrets only as they are
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;|&#39;"}


def _hex(byte: int) -> str:
    """A byte as ``%XX`` in either hex case."""
    return "%" + "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{byte:02x}")


def _any_form(char: str) -> str:
    """A regular expression for one character of a secret, in any escaped form it may take."""
    forms = [re.escape(char), "".join(_hex(b) for b in char.encode("utf-8"))]
    escaped = json.dumps(char)[1:-1]
    if escaped != char:
        forms.append(re.escape(escaped))
    units = char.encode("utf-16-be")
    forms.append("".join(_hex_escape(int.from_bytes(units[i : i + 2], "big")) for i in range(0, len(units), 2)))
    if char == " ":
        forms.append(r"\+")
    if char in _HTML:
        forms.append(_HTML[char])
    return "(?:" + "|".join(forms) + ")"


def _hex_escape(unit: int) -> str:
    """A UTF-16 code unit as JSON's ``\\uXXXX``, in either hex case."""
    return r"\\u" + "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{unit:04x}")


class Redactor:
    """Redact a fixed set of secrets plus anything shaped like a bearer token."""

    def __init__(self, secrets: Iterable[str | None] = (), variables: Iterable[str] = ()) -> None:
        """``variables``: environment variables a curl line may name as its token, besides ``$CANVAS_TOKEN``."""
        self._secrets: list[str] = []
        extra = [name for name in variables if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        self._bearer = _bearer([TOKEN_ENV, *extra]) if extra else _BEARER
        self._escaped: re.Pattern[str] | None = None  # built when first needed after a change
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)  # longest first: one secret may contain another
            self._escaped = None

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        if self._secrets and any(mark in text for mark in _ESCAPES):
            if self._escaped is None:
                self._escaped = re.compile("|".join("".join(map(_any_form, s)) for s in self._secrets))
            text = self._escaped.sub(REDACTED, text)
        text = self._bearer.sub(_bearer_value, text)
        return _ACCESS_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Each value redacted; credentials by name too (``Authorization`` keeps its scheme, cookies go whole)."""
        out = {}
        for name, value in headers.items():
            lower = name.lower()
            if lower in _CREDENTIAL_HEADERS:
                value = REDACTED
            elif lower == "authorization" and value.strip():
                scheme, _, credential = value.strip().partition(" ")
                value = f"{scheme} {REDACTED}" if credential.strip() else REDACTED
            out[name] = self(value)
        return out


def redact_data(value: Any, redactor: Callable[[str], str]) -> Any:
    """``value`` with every string in it redacted, keys included; tuples come back as lists.

    Redact the data, not its serialised JSON: a replacement inside a JSON string could break
    its escapes.
    """
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {redactor(str(k)): redact_data(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, redactor) for v in value]
    return value


def curl_command(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str | None,
    redactor: Redactor,
    token_env: str = TOKEN_ENV,
) -> str:
    """A ``curl`` line that reproduces a request; the token comes from ``$token_env`` (``$CANVAS_TOKEN``)."""
    parts = ["curl", "-i", "-X", method.upper()]
    for name, value in headers.items():
        if name.lower() == "authorization":
            parts += ["-H", f'"Authorization: Bearer ${token_env}"']
            continue
        if name.lower() in ("content-length", "host", "user-agent", "accept-encoding", "connection"):
            continue
        parts += ["-H", shlex.quote(f"{name}: {redactor(value)}")]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        parts += ["--data-binary", shlex.quote(redactor(text))]
    parts.append(shlex.quote(redactor(url)))
    return " ".join(parts)
