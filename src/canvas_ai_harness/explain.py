"""Schema violations in plain words: what was sent, and what the spec wants instead.

``explain(error)`` turns one jsonschema ``ValidationError`` into a sentence a client's author
reads without knowing JSON Schema: ``message is blank (only spaces); the spec requires text with
at least one non-space character`` rather than ``'   ' does not match '\\S'``. ``SpecValidator``
calls it for every schema error it reports (requests, responses, headers), so the proxy, the
``responses`` fake and the load suite's sampled checks speak alike.

A value is never cut here: a long text is described by its length instead (a message may hold a
token, and only the report, which redacts first, may shorten what it shows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from canvas_ai_harness.canvas.requests import is_blank

__all__ = ["NOT_BLANK", "expects", "explain", "sent", "subject"]

NOT_BLANK: Final = "text with at least one non-space character"
_QUOTED_MAX: Final = 80  # longer texts are described by their length, never cut
_TYPES: Final = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "object": "a JSON object",
    "array": "a list",
}


def subject(path: Iterable[Any], whole: str = "the body") -> str:
    """``messages[1].role`` for a path into a document; ``whole`` for the document itself."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or whole


def sent(value: Any) -> str:
    """What a client (or a Canvas) sent, in words: ``blank (only spaces)``, ``"abc"``, ``null``..."""
    if isinstance(value, str):
        if not value:
            return "empty"
        if is_blank(value) or not value.strip():
            return "blank (only spaces)" if set(value) == {" "} else "blank (only white space)"
        if len(value) > _QUOTED_MAX:
            return f"a text of {len(value)} characters"
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "a JSON object"
    return type(value).__name__


def _is_not_blank_pattern(pattern: str) -> bool:
    """``\\S``, or a negated class of white-space characters: "has a character that is not white space"."""
    if pattern in ("\\S", "\\S+", ".*\\S.*"):
        return True
    return pattern.startswith("[^") and pattern.endswith("]") and (" " in pattern or "\\s" in pattern)


def expects(schema: Any) -> str:
    """What a schema asks for, in words: ``text with at least one non-space character``, ``an integer or null``."""
    if not isinstance(schema, Mapping):
        return "a value of the shape the spec declares"
    if "const" in schema:
        return f"exactly {json.dumps(schema['const'])}"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(dict.fromkeys(expects(sub) for sub in schema[key]))
    if "$ref" in schema and "type" not in schema:
        return f"a {str(schema['$ref']).rsplit('/', 1)[-1]} as the spec declares it"
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    words = " or ".join(_TYPES.get(name, name) for name in names) or "a value"
    if "string" in names:
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and _is_not_blank_pattern(pattern):
            words = words.replace("text", NOT_BLANK, 1)
        elif pattern in ("^[0-9]+$", "^-?[0-9]+$", "^\\d+$"):
            words = words.replace("text", "a string of digits", 1)
        elif pattern:
            words += f" matching the pattern {pattern}"
        if schema.get("format"):
            words += f" in {schema['format']} format"
        if "minLength" in schema and not (pattern and _is_not_blank_pattern(str(pattern))):
            words += f" of at least {schema['minLength']} character{'' if schema['minLength'] == 1 else 's'}"
        if "maxLength" in schema:
            words += f" of at most {schema['maxLength']} characters"
    for key, relation in (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
        if key in schema:
            words += f" {relation} {schema[key]}"
    if "minItems" in schema:
        words += f" of at least {schema['minItems']} items"
    return words


def explain(error: Any, whole: str = "the body") -> str:
    """One jsonschema ``ValidationError`` as ``<what> is <sent>; the spec requires <expects>``."""
    name = subject(error.absolute_path, whole)
    keyword, value, schema = error.validator, error.instance, error.schema
    if keyword == "required" and isinstance(value, Mapping):
        missing = [p for p in error.validator_value if p not in value] or list(error.validator_value)
        properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        wanted = "; ".join(f'"{p}" ({expects(properties.get(p))})' for p in missing)
        return f"{name} has no {', '.join(json.dumps(p) for p in missing)}; the spec requires {wanted}"
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        declared = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        extra = [k for k in value if k not in declared]
        return f"{name} has {', '.join(json.dumps(k) for k in extra)}, which the spec does not allow here"
    if keyword in ("minLength", "maxLength") and isinstance(value, str) and value:
        return f"{name} is {len(value)} characters long; the spec requires {expects(schema)}"
    if keyword in ("minItems", "maxItems") and isinstance(value, list):
        return f"{name} has {len(value)} items; the spec requires {expects(schema)}"
    if keyword == "format":
        return f"{name} is {sent(value)}, not a valid {error.validator_value}; the spec requires {expects(schema)}"
    if keyword in ("type", "pattern", "minLength", "maxLength", "enum", "const", "anyOf", "oneOf") or keyword in (
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    ):
        return f"{name} is {sent(value)}; the spec requires {expects(schema)}"
    return f"{name}: {error.message}"
