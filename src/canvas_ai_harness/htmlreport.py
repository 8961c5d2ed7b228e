"""One self-contained HTML report per command, from Jinja2 templates.

Every report (``contract``, ``load``, ``proxy``, ``diff``, and ``check``'s index) extends
``templates/base.html.j2``: the verdict first (its word, the exit code and the command line, tokens
redacted), then the command's own blocks. The page carries its own styles and images (charts are
inline SVG), so it opens offline, from a CI artefact or a mail attachment, and prints.

``render(name, context)`` renders one template; ``write_html(path, name, context)`` writes it.
Every template is autoescaped, so a body from the target shows as text, never as markup. The
caller redacts before it renders: the context's strings are shown as they are.

Filters a template may use:

- ``pretty``: a JSON value as indented JSON text (non-JSON values as ``repr``-like text).
- ``around(text, needle, width)``: a long text shortened around its first ``needle``, never cut
  before it (``…`` marks the cuts); without a needle, its head.
- ``count(n, noun)``: ``1 request``, ``3 requests``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["around", "command_line", "render", "write_html"]

_ELLIPSIS = "…"


def around(text: str, needle: str | None = None, width: int = 600) -> str:
    """``text`` shortened to about ``width`` characters around ``needle``, never cut before it."""
    if len(text) <= width:
        return text
    at = text.find(needle) if needle else -1
    if at < 0:
        return text[:width] + _ELLIPSIS
    start = max(0, at - width // 3)
    end = max(at + len(needle or "") + width // 3, start + width)
    return (_ELLIPSIS if start else "") + text[start:end] + (_ELLIPSIS if end < len(text) else "")


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def command_line(argv: Sequence[str], redactor: Callable[[str], str] | None = None) -> str:
    """The command as a user would type it, every part redacted before it is joined."""
    parts = [redactor(part) if redactor else part for part in argv]
    return shlex.join(parts)


@cache
def _environment() -> Any:
    # Jinja2 is imported here, not at module import: the fake and the domain stay light.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("canvas_ai_harness", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a template naming a missing value is a harness bug, found at once
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["around"] = around
    env.filters["count"] = _count
    return env


def render(name: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<name>`` with ``context``.

    The base template needs ``title``, ``verdict`` (a word: PASS, FAIL, INTERRUPTED, ...),
    ``exit_code`` and ``command`` (already redacted; ``command_line`` builds it); ``subtitle`` and
    ``generated`` (an ISO time) are optional.
    """
    base = {"subtitle": "", "generated": "", "links": ()}
    return str(_environment().get_template(name).render({**base, **context}))


def write_html(path: Path, name: str, context: Mapping[str, Any]) -> Path:
    """Render ``name`` and write it to ``path`` (UTF-8); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(name, context), encoding="utf-8")
    return path
