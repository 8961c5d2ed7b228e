"""Check requests and responses against ``specs/openapi.yaml``.

``SpecValidator`` reads the spec (never a copy of it) and answers two questions: does this
request conform (route, method, path parameters, token, body encoding and schema), and does this
response conform (a declared status, its required headers, a declared content type, the body's
schema). Each problem is a ``Violation`` that says what was wrong, where, and what the spec
expects. The proxy, the load suite's sampled checks and the ``responses`` fake all use it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from canvas_ai_harness.canvas.bodies import is_id_key
from canvas_ai_harness.canvas.requests import bearer_token, is_blank, media_type
from canvas_ai_harness.explain import NOT_BLANK, expects, explain, sent
from canvas_ai_harness.spec import load_spec

try:  # Rust, ~70x faster at "is this valid?"; jsonschema still explains what is not (see _schema_errors)
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - an optional speed-up (schemathesis brings it)
    _rs = None  # type: ignore[assignment]

__all__ = ["Operation", "SpecValidator", "Violation"]

_SPEC_URI = "urn:canvas-ai-harness:openapi"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_MAX_SCHEMA_ERRORS = 5


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a request or response departs from the spec."""

    kind: str  # route, method, parameter, auth, content-type, body, status, header, schema
    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True, slots=True)
class Operation:
    """A request matched to the spec: which operation, and the path parameters it carried."""

    operation_id: str
    method: str
    path_template: str
    path_params: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Route:
    template: str
    pattern: re.Pattern[str]
    operations: dict[str, dict[str, Any]]  # upper-case method -> operation object


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SpecValidator:
    """Validate traffic against the OpenAPI spec; thread-safe once built."""

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        self.spec: Mapping[str, Any] = spec if spec is not None else load_spec()
        resource = Resource.from_contents(dict(self.spec), default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self._string_ids: SpecValidator | None = None
        self._fast: dict[str, Any] = {}  # pointer -> jsonschema_rs validator, or None when it cannot judge
        self._fast_registry: Any = None
        # id(schema) -> (the schema, kept alive so that its id stays its own; its compiled validator)
        self._param_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}
        self._derefs: dict[tuple[int, str], tuple[dict[str, Any], tuple[dict[str, Any], str]]] = {}
        self._routes: list[_Route] = []
        self._by_id: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self._path_parameters: dict[str, list[dict[str, Any]]] = {}
        for template, item in self.spec.get("paths", {}).items():
            self._path_parameters[template] = list(item.get("parameters", []))
            operations = {m.upper(): op for m, op in item.items() if m in _METHODS}
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", re.escape(template))
            self._routes.append(_Route(template, re.compile(f"^{regex}(?:\\.json)?$"), operations))
            for method, op in operations.items():
                self._by_id[op["operationId"]] = (template, method, op)

    # -- lookups ------------------------------------------------------------------------------
    @property
    def known_routes(self) -> list[str]:
        """``"METHOD /path/template"`` for every operation, for error messages."""
        return [f"{method} {template}" for template, method, _ in self._by_id.values()]

    def with_string_ids(self) -> SpecValidator:
        """A validator for answers to ``Accept: application/json+canvas-string-ids``.

        Canvas then sends every integer ``id`` and ``*_id`` as a string, a convention the spec
        does not declare; this validator also accepts a string of digits for those properties.
        """
        if self._string_ids is None:
            self._string_ids = SpecValidator(_accept_string_ids(self.spec))
        return self._string_ids

    def operation(self, operation_id: str) -> dict[str, Any]:
        return self._by_id[operation_id][2]

    def match(self, method: str, path: str) -> tuple[Operation | None, list[Violation]]:
        """Find the operation for ``method path`` (a trailing ``.json`` is accepted, as Canvas does)."""
        path = path.split("?", 1)[0]
        method = method.upper()
        for route in self._routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            op = route.operations.get(method)
            if op is None:
                allowed = ", ".join(sorted(route.operations))
                return None, [
                    Violation("method", f"{method} is not an operation of {route.template}; allowed: {allowed}", path)
                ]
            return Operation(op["operationId"], method, route.template, m.groupdict()), []
        known = "; ".join(self.known_routes)
        return None, [
            Violation("route", f"no operation in the spec matches {method} {path}; known routes: {known}", path)
        ]

    # -- requests -----------------------------------------------------------------------------
    def validate_request(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[Operation | None, list[Violation]]:
        """Check a request a client sends; return its operation (if any) and every violation."""
        operation, problems = self.match(method, path)
        if operation is None:
            return None, problems
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        query_params = dict(parse_qsl(query, keep_blank_values=True))
        op = self.operation(operation.operation_id)
        pointer = f"/paths/{_escape(operation.path_template)}/{operation.method.lower()}"
        problems += self._check_path_params(
            self._path_parameters[operation.path_template] + op.get("parameters", []), operation
        )
        problems += self._check_auth(op, lower, query_params)
        problems += self._check_body(op, pointer, lower, body)
        return operation, problems

    def _check_path_params(self, parameters: list[dict[str, Any]], operation: Operation) -> list[Violation]:
        problems = []
        for param in (self._deref(p)[0] for p in parameters):
            if param.get("in") != "path":
                continue
            name = param["name"]
            raw = operation.path_params.get(name, "")
            schema = param.get("schema", {})
            value: Any = raw
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", raw):
                    wanted = f"the spec requires {expects(schema)}"
                    problems.append(
                        Violation("parameter", f"{name} is {sent(raw)} in the path; {wanted}", f"path.{name}")
                    )
                    continue
                value = int(raw)
                if schema.get("format") == "int64" and not -(2**63) <= value < 2**63:
                    problems.append(
                        Violation("parameter", f"{name} is {raw}, which does not fit in a 64-bit id", f"path.{name}")
                    )
                    continue
            if self._param_valid(schema, value):
                continue
            for message in self._errors(schema, value, name):
                problems.append(Violation("parameter", message, f"path.{name}"))
        return problems

    def _check_auth(self, op: dict[str, Any], headers: Mapping[str, str], query: Mapping[str, str]) -> list[Violation]:
        requirements = op.get("security", self.spec.get("security", []))
        if not requirements or {} in requirements:
            return []
        schemes = self.spec.get("components", {}).get("securitySchemes", {})
        for requirement in requirements:
            for name in requirement:
                scheme = schemes.get(name, {})
                if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer":
                    if bearer_token(headers):
                        return []
                elif scheme.get("type") == "apiKey":
                    source = query if scheme.get("in") == "query" else headers
                    key = scheme["name"] if scheme.get("in") == "query" else scheme["name"].lower()
                    if source.get(key):
                        return []
        return [
            Violation(
                "auth",
                "no token was sent; the spec requires an Authorization header 'Bearer <token>' "
                "(or an access_token query parameter)",
                "header.Authorization",
            )
        ]

    def _check_body(self, op: dict[str, Any], pointer: str, headers: Mapping[str, str], body: bytes) -> list[Violation]:
        if "requestBody" not in op:
            return []
        request_body, body_pointer = self._deref(op["requestBody"], f"{pointer}/requestBody")
        content = request_body.get("content", {})
        declared = ", ".join(content)
        media = media_type(headers.get("content-type"))
        if not body:
            if request_body.get("required"):
                return [Violation("body", f"the request has no body; the spec requires one ({declared})", "body")]
            return []
        if not media:
            what = "a JSON body" if _looks_like_json(body) else "a body"
            return [
                Violation(
                    "content-type",
                    f"{what} was sent without Content-Type; Canvas ignores it. Send one of: {declared}",
                    "header.Content-Type",
                )
            ]
        if media not in content:
            return [
                Violation(
                    "content-type",
                    f"Content-Type {media!r} is not accepted here; the spec declares: {declared}",
                    "header.Content-Type",
                )
            ]
        hint = _json_sent_as_form(media, body)
        if hint is not None:
            return [hint]
        try:
            text = body.decode("utf-8")
            data: Any = (
                json.loads(text)
                if media == "application/json"
                else dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
            )
        except (UnicodeDecodeError, ValueError) as exc:
            return [Violation("body", f"the body is not valid {media}: {exc}", "body")]
        schema_pointer = f"{body_pointer}/content/{_escape(media)}/schema"
        errors = _blank_as_canvas_reads_it(self._schema_errors(schema_pointer, data), data)
        return [Violation("body", message, "body" + where) for where, message in errors]

    # -- responses ----------------------------------------------------------------------------
    def validate_response(
        self, operation_id: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> list[Violation]:
        """Check a response to ``operation_id`` against its declared responses."""
        template, method, op = self._by_id[operation_id]
        responses = op.get("responses", {})
        key = str(status) if str(status) in responses else ("default" if "default" in responses else None)
        if key is None:
            declared = ", ".join(sorted(responses))
            return [Violation("status", f"{operation_id} answered {status}; the spec declares {declared}", "status")]
        response, pointer = self._deref(responses[key], f"/paths/{_escape(template)}/{method.lower()}/responses/{key}")
        lower = {k.lower(): v for k, v in headers.items()}
        problems: list[Violation] = []
        for name, header in response.get("headers", {}).items():
            header, header_pointer = self._deref(header, f"{pointer}/headers/{_escape(name)}")
            value = lower.get(name.lower())
            if value is None:
                if header.get("required"):
                    problems.append(Violation("header", f"required header missing on {status}", f"header.{name}"))
                continue
            for where, message in self._schema_errors(f"{header_pointer}/schema", value, f"header {name}"):
                problems.append(Violation("header", message, f"header.{name}{where}"))
        content = response.get("content", {})
        if not content:
            return problems
        media = media_type(lower.get("content-type"))
        if media not in content:
            problems.append(
                Violation(
                    "content-type",
                    f"{media or 'no content type'} on {status}; the spec declares {', '.join(content)}",
                    "header.Content-Type",
                )
            )
            return problems
        data: Any
        if media == "application/json" or media.endswith("+json"):
            try:
                data = json.loads(body)
            except ValueError as exc:
                return [*problems, Violation("body", f"{status} body is not JSON: {exc}", "body")]
        else:
            data = body.decode("utf-8", "replace")
        schema_pointer = f"{pointer}/content/{_escape(media)}/schema"
        problems += [
            Violation("schema", message, "body" + where) for where, message in self._schema_errors(schema_pointer, data)
        ]
        return problems

    # -- schema machinery ---------------------------------------------------------------------
    def _deref(self, node: dict[str, Any], pointer: str = "") -> tuple[dict[str, Any], str]:
        """Follow local ``$ref``s; return the object and its JSON pointer in the spec (each found once)."""
        if "$ref" not in node:
            return node, pointer
        key = (id(node), pointer)
        known = self._derefs.get(key)
        if known is not None and known[0] is node:
            return known[1]
        start, seen = node, 0
        while "$ref" in node and seen < 16:
            ref = node["$ref"]
            pointer = ref[1:] if ref.startswith("#") else ref
            node = self._resolve(pointer)
            seen += 1
        self._derefs[key] = (start, (node, pointer))  # the node is kept, so that its id stays its own
        return node, pointer

    def _resolve(self, pointer: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return dict(node)

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": f"{_SPEC_URI}#{pointer}"},
                registry=self._registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            self._validators[pointer] = validator
        return validator

    def _is_valid(self, pointer: str, data: Any) -> bool | None:
        """The fast check: ``True``/``False``, or ``None`` when jsonschema_rs is absent or cannot judge."""
        if _rs is None:
            return None
        if pointer not in self._fast:
            try:
                if self._fast_registry is None:
                    self._fast_registry = _rs.Registry([(_SPEC_URI, dict(self.spec))])
                ref = f"{_SPEC_URI}#{quote(pointer, safe='/~')}"
                self._fast[pointer] = _rs.validator_for(
                    {"$ref": ref}, registry=self._fast_registry, validate_formats=True
                )
            except Exception:  # a schema it refuses: let jsonschema judge alone
                self._fast[pointer] = None
        validator = self._fast[pointer]
        if validator is None:
            return None
        try:
            return bool(validator.is_valid(data))
        except Exception:  # e.g. an integer beyond 64 bits
            return None

    def _schema_errors(self, pointer: str, data: Any, whole: str = "the body") -> list[tuple[str, str]]:
        """Each way ``data`` breaks the schema at ``pointer``: (where, in plain words; ``whole`` names the root)."""
        if self._is_valid(pointer, data):
            return []
        errors = sorted(self._validator(pointer).iter_errors(data), key=lambda e: list(e.absolute_path))
        out = []
        for error in errors[:_MAX_SCHEMA_ERRORS]:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found = (where, explain(error, whole))
            if found not in out:  # an empty message breaks minLength and the pattern: one sentence, once
                out.append(found)
        return out

    def _param_valid(self, schema: Mapping[str, Any], value: Any) -> bool:
        """The fast check of a parameter's schema, compiled once per schema (they live as long as the spec)."""
        entry = self._param_validators.get(id(schema))
        if entry is None:
            validator: Any = None
            if _rs is not None:
                with contextlib.suppress(Exception):  # a schema it refuses: jsonschema judges
                    validator = _rs.validator_for(dict(schema))
            if validator is None:
                validator = Draft202012Validator(dict(schema), registry=self._registry)
            entry = self._param_validators[id(schema)] = (schema, validator)
        try:
            return bool(entry[1].is_valid(value))
        except Exception:  # e.g. an integer beyond 64 bits: the explaining validator judges
            return False

    def _errors(self, schema: Mapping[str, Any], value: Any, name: str) -> Iterable[str]:
        validator = Draft202012Validator(dict(schema), registry=self._registry)
        return [explain(e, name) for e in validator.iter_errors(value)]


def _blank_as_canvas_reads_it(errors: list[tuple[str, str]], data: Any) -> list[tuple[str, str]]:
    """Judge a blank ``message`` as Canvas does (Ruby's ``blank?``), not by the spec's ``\\S`` pattern.

    A regex engine's idea of white space is not Ruby's (U+001C..U+001F, U+0085, U+FEFF differ).
    """
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return errors
    kept = [(where, text) for where, text in errors if not (where == ".message" and NOT_BLANK in text)]
    if is_blank(message):
        kept.append(
            (
                ".message",
                f'message is {sent(message)}; the spec requires {NOT_BLANK} (Canvas answers 400 "message is required")',
            )
        )
    return kept


_FORM = "application/x-www-form-urlencoded"


def _looks_like_json(body: bytes) -> bool:
    """A JSON object or list (what a client meant as JSON), not a form that happens to parse."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _json_sent_as_form(media: str, body: bytes) -> Violation | None:
    """A JSON document sent as a form (curl's ``-d`` default): Canvas reads no ``message`` from it."""
    if media != _FORM or not _looks_like_json(body):
        return None
    return Violation(
        "content-type",
        f"the body looks like JSON but was sent as {_FORM}, so Canvas reads no parameters from it; "
        "send Content-Type: application/json (with curl: -H 'Content-Type: application/json')",
        "header.Content-Type",
    )


def _accept_string_ids(node: Any) -> Any:
    """A copy of ``node`` where each integer ``id`` or ``*_id`` property also accepts a string of digits."""
    if isinstance(node, list):
        return [_accept_string_ids(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: _accept_string_ids(value) for key, value in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        for name, schema in properties.items():
            types = schema.get("type") if isinstance(schema, dict) else None
            if is_id_key(name) and (types == "integer" or "integer" in (types or [])):
                properties[name] = {"anyOf": [schema, {"type": "string", "pattern": "^-?[0-9]+$"}]}
    return out
