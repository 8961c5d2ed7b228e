"""Checks on `specs/openapi.yaml`, the single source of truth about the Canvas API.

The spec is hand-written, so these tests pin what the mock, the contract checks and
the load tests rely on: it is valid OpenAPI 3.1, schemathesis 4 loads it (links
included), it declares exactly the five Canvas operations with the agreed responses,
and every example in it is valid against its own schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.core.result import Err, Ok

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "openapi.yaml"
SPEC_URI = "urn:canvas-ai-harness:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

OPERATION_IDS = {
    "getActiveConversation",
    "createConversation",
    "getConversation",
    "postMessage",
    "deleteConversation",
}
RESPONSE_CODES = {
    "getActiveConversation": {"200", "401", "403", "404", "429", "503"},
    "createConversation": {"201", "401", "403", "404", "429", "503"},
    "getConversation": {"200", "401", "403", "404", "429", "503"},
    "postMessage": {"200", "400", "401", "403", "404", "413", "422", "429", "503"},
    # destroy never calls the AI service, so it cannot answer 503.
    "deleteConversation": {"200", "401", "403", "404", "429"},
}
LINK_PARAMETERS = {
    "course_id": "$request.path.course_id",
    "ai_experience_id": "$request.path.ai_experience_id",
    "id": "$response.body#/id",
}
LINK_TARGETS = {
    "GetConversation": "getConversation",
    "PostMessage": "postMessage",
    "DeleteConversation": "deleteConversation",
}
# (source operationId, status) -> the links that response declares, and no others.
EXPECTED_LINKS = {
    ("createConversation", "201"): {
        "GetConversation",
        "PostMessage",
        "DeleteConversation",
    },
    ("postMessage", "200"): {"PostMessage", "GetConversation", "DeleteConversation"},
    ("getActiveConversation", "200"): {"PostMessage", "DeleteConversation"},
}
THROTTLING_HEADERS = ("X-Request-Cost", "X-Rate-Limit-Remaining")
# The only objects allowed to carry unknown keys: Canvas ignores extra request
# parameters, and a message's feedback entries are not described upstream.
OPEN_OBJECTS = {
    "/components/schemas/PostMessageRequest",
    "/components/schemas/Message/properties/feedback/items",
}


@cache
def _load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as file:
        loaded = yaml.safe_load(file)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _load_spec()


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/...`) until a node that is not a reference."""
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), f"only local references are expected, got {reference}"
        node = spec
        for token in reference[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _operation(spec: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for _, _, operation in _operations(spec):
        if operation.get("operationId") == operation_id:
            return operation
    raise LookupError(operation_id)


def _responses(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every (operationId, status code, resolved response object)."""
    for _, _, operation in _operations(spec):
        for status, response in operation["responses"].items():
            yield operation["operationId"], status, _resolve(spec, response)


def _validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` in the spec, with its `$ref`s resolvable.

    The whole spec is registered as one 2020-12 resource, so a subschema's
    `#/components/schemas/...` references resolve against the spec document.
    """
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI,
        Resource.from_contents(_load_spec(), default_specification=DRAFT202012),
    )
    schema = {"$ref": f"{SPEC_URI}#{quote(pointer, safe='/~')}"}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _schema_pointer(name: str) -> str:
    return f"/components/schemas/{name}"


def _collect_examples(spec: dict[str, Any]) -> list[Any]:
    """One `pytest.param(schema_pointer, value)` per example anywhere in the spec.

    Media types, parameters and headers carry `example` / `examples` beside a `schema`;
    schemas carry a JSON Schema `examples` array (or a legacy `example`). Component
    examples are checked where they are referenced.
    """
    cases: list[Any] = []

    def add(schema_pointer: str, value: Any, where: str) -> None:
        cases.append(pytest.param(schema_pointer, value, id=_readable(where, spec)))

    def visit_schema(node: Any, pointer: str) -> None:
        if not isinstance(node, dict):
            return
        for index, value in enumerate(node.get("examples", [])):
            add(pointer, value, f"{pointer}/examples/{index}")
        if "example" in node:
            add(pointer, node["example"], f"{pointer}/example")
        for keyword in ("items", "not", "additionalProperties", "contains"):
            if isinstance(node.get(keyword), dict):
                visit_schema(node[keyword], f"{pointer}/{keyword}")
        for keyword in ("properties", "$defs", "patternProperties"):
            for name, child in node.get(keyword, {}).items():
                visit_schema(child, f"{pointer}/{keyword}/{_escape(name)}")
        for keyword in ("oneOf", "anyOf", "allOf", "prefixItems"):
            for index, child in enumerate(node.get(keyword, [])):
                visit_schema(child, f"{pointer}/{keyword}/{index}")

    def visit(node: Any, pointer: str) -> None:
        if isinstance(node, list):
            for index, child in enumerate(node):
                visit(child, f"{pointer}/{index}")
            return
        if not isinstance(node, dict):
            return
        if "schema" in node:
            schema_pointer = f"{pointer}/schema"
            if "example" in node:
                add(schema_pointer, node["example"], f"{pointer}/example")
            for name, example in node.get("examples", {}).items():
                add(
                    schema_pointer,
                    _resolve(spec, example)["value"],
                    f"{pointer}/examples/{name}",
                )
            visit_schema(node["schema"], schema_pointer)
        for key, child in node.items():
            if key in ("schema", "example", "examples"):
                continue
            if pointer == "/components" and key in ("schemas", "examples"):
                continue
            visit(child, f"{pointer}/{_escape(key)}")

    visit(spec, "")
    for name, schema in spec["components"]["schemas"].items():
        visit_schema(schema, _schema_pointer(name))
    return cases


def _readable(where: str, spec: dict[str, Any]) -> str:
    """Turn `/paths/~1api~1.../post/responses/201/...` into `createConversation/...`."""
    for path, method, operation in _operations(spec):
        prefix = f"/paths/{_escape(path)}/{method}/"
        if where.startswith(prefix):
            where = f"{operation['operationId']}/{where[len(prefix) :]}"
            break
    return where.replace("/components/", "").replace("~1", "/")


def _referenced_pointers(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for child in node.values():
            yield from _referenced_pointers(child)
    elif isinstance(node, list):
        for child in node:
            yield from _referenced_pointers(child)


# --- the document as a whole -------------------------------------------------


def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_info_and_server(spec: dict[str, Any]) -> None:
    assert spec["info"]["title"] == "Canvas LMS AI Conversations API"
    description = spec["info"]["description"]
    assert "`completed`" in description
    assert "`ended`" in description
    assert [server["url"] for server in spec["servers"]] == ["https://canvas.example.edu"]


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    results = list(schema.get_all_operations())
    errors = [result.err() for result in results if isinstance(result, Err)]
    assert errors == []
    operation_ids = [result.ok().definition.raw["operationId"] for result in results if isinstance(result, Ok)]
    assert sorted(operation_ids) == sorted(OPERATION_IDS)


def test_schemathesis_accepts_every_declared_link() -> None:
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    declared = sum(len(names) for names in EXPECTED_LINKS.values())
    assert schema.statistic.transitions.total == declared
    # Building the state machine raises if a link names an unknown operation or param.
    state_machine = schema.as_state_machine()
    assert state_machine is not None


def test_declares_exactly_the_five_operations(spec: dict[str, Any]) -> None:
    operation_ids = [operation["operationId"] for _, _, operation in _operations(spec)]
    assert len(operation_ids) == len(OPERATION_IDS)
    assert set(operation_ids) == OPERATION_IDS


@pytest.mark.parametrize(
    ("operation_id", "method", "path_suffix"),
    [
        pytest.param("getActiveConversation", "get", "/conversations", id="active"),
        pytest.param("createConversation", "post", "/conversations", id="create"),
        pytest.param("getConversation", "get", "/conversations/{id}", id="show"),
        pytest.param("postMessage", "post", "/conversations/{id}/messages", id="post-message"),
        pytest.param("deleteConversation", "delete", "/conversations/{id}", id="destroy"),
    ],
)
def test_operation_lives_on_its_canvas_route(
    spec: dict[str, Any], operation_id: str, method: str, path_suffix: str
) -> None:
    prefix = "/api/v1/courses/{course_id}/ai_experiences/{ai_experience_id}"
    assert spec["paths"][prefix + path_suffix][method]["operationId"] == operation_id


# --- parameters, security, request bodies ---------------------------------------


def test_path_parameters_are_shared_components(spec: dict[str, Any]) -> None:
    parameters = spec["components"]["parameters"]
    assert parameters["course_id"]["schema"] == {
        "type": "string",
        "pattern": "^([0-9]+|sis_course_id:.+)$",
    }
    for name in ("ai_experience_id", "id"):
        assert parameters[name]["schema"] == {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
        }
    for path, item in spec["paths"].items():
        names = {_resolve(spec, parameter)["name"] for parameter in item["parameters"]}
        assert names == {segment.strip("{}") for segment in path.split("/") if segment.startswith("{")}
        assert all("$ref" in parameter for parameter in item["parameters"])


def test_course_id_accepts_canvas_and_sis_ids() -> None:
    validator = _validator("/components/parameters/course_id/schema")
    assert validator.is_valid("101")
    assert validator.is_valid("sis_course_id:BIO-101-F26")
    assert not validator.is_valid("abc")
    assert not validator.is_valid("sis_course_id:")


def test_masquerading_and_accept_header_are_not_declared(spec: dict[str, Any]) -> None:
    declared = [_resolve(spec, parameter)["name"].lower() for parameter in spec["components"]["parameters"].values()]
    for item in spec["paths"].values():
        declared += [_resolve(spec, parameter)["name"].lower() for parameter in item.get("parameters", [])]
        for method in HTTP_METHODS:
            for parameter in item.get(method, {}).get("parameters", []):
                declared.append(_resolve(spec, parameter)["name"].lower())
    assert "as_user_id" not in declared
    assert "accept" not in declared


def test_token_in_header_or_query(spec: dict[str, Any]) -> None:
    assert spec["security"] == [{"bearerAuth": []}, {"accessToken": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert (
        schemes["accessToken"]["type"],
        schemes["accessToken"]["in"],
        schemes["accessToken"]["name"],
    ) == (
        "apiKey",
        "query",
        "access_token",
    )


def test_create_takes_no_request_body(spec: dict[str, Any]) -> None:
    assert "requestBody" not in _operation(spec, "createConversation")


def test_post_message_body_is_json_or_form(spec: dict[str, Any]) -> None:
    body = _operation(spec, "postMessage")["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    for media in body["content"].values():
        assert media["schema"] == {"$ref": "#/components/schemas/PostMessageRequest"}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        pytest.param({"message": "Sunlight and water."}, True, id="text"),
        pytest.param({"message": "hi", "as_user_id": "7"}, True, id="extra-params-ignored"),
        pytest.param({"message": "x" * 5000}, True, id="long-is-a-profile-matter"),
        pytest.param({}, False, id="missing"),
        pytest.param({"message": ""}, False, id="empty"),
        pytest.param({"message": " \t\n"}, False, id="whitespace-only"),
    ],
)
def test_post_message_request_schema(body: dict[str, Any], valid: bool) -> None:
    assert _validator(_schema_pointer("PostMessageRequest")).is_valid(body) is valid


# --- responses ---------------------------------------------------------------


@pytest.mark.parametrize("operation_id", sorted(OPERATION_IDS))
def test_operation_declares_the_agreed_status_codes(spec: dict[str, Any], operation_id: str) -> None:
    assert set(_operation(spec, operation_id)["responses"]) == RESPONSE_CODES[operation_id]


def test_no_response_is_a_500(spec: dict[str, Any]) -> None:
    for operation_id, status, _ in _responses(spec):
        assert not status.startswith("5") or status == "503", (operation_id, status)


def test_every_response_may_carry_throttling_headers(spec: dict[str, Any]) -> None:
    for operation_id, status, response in _responses(spec):
        headers = response.get("headers", {})
        for name in THROTTLING_HEADERS:
            assert name in headers, (operation_id, status, name)
            assert not _resolve(spec, headers[name]).get("required", False)


def test_every_401_requires_www_authenticate(spec: dict[str, Any]) -> None:
    unauthorized = [(operation_id, response) for operation_id, status, response in _responses(spec) if status == "401"]
    assert len(unauthorized) == len(OPERATION_IDS)
    for operation_id, response in unauthorized:
        header = _resolve(spec, response["headers"]["WWW-Authenticate"])
        assert header["required"] is True, operation_id


def test_throttling_answers_are_plain_text(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    for name in ("Forbidden403", "TooManyRequests429"):
        assert set(responses[name]["content"]) == {"application/json", "text/plain"}
        assert responses[name]["content"]["text/plain"]["schema"] == {"type": "string"}


@pytest.mark.parametrize(
    ("operation_id", "status", "schema_name"),
    [
        pytest.param("getActiveConversation", "200", "ActiveConversationResponse", id="active"),
        pytest.param("createConversation", "201", "CreatedConversation", id="create"),
        pytest.param("getConversation", "200", "ConversationDetail", id="show"),
        pytest.param("postMessage", "200", "Conversation", id="post-message"),
        pytest.param("deleteConversation", "200", "DeleteResponse", id="destroy"),
        pytest.param("postMessage", "400", "BadRequest", id="message-required"),
        pytest.param("postMessage", "422", "SimpleError", id="message-too-long"),
    ],
)
def test_response_uses_its_schema(spec: dict[str, Any], operation_id: str, status: str, schema_name: str) -> None:
    response = _resolve(spec, _operation(spec, operation_id)["responses"][status])
    assert set(response["content"]) == {"application/json"}
    assert response["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema_name}"}


def test_objects_reject_unknown_keys(spec: dict[str, Any]) -> None:
    def objects(node: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        types = node.get("type", [])
        if "object" in (types if isinstance(types, list) else [types]):
            yield pointer, node
        for keyword in ("items", "additionalProperties"):
            yield from objects(node.get(keyword), f"{pointer}/{keyword}")
        for name, child in node.get("properties", {}).items():
            yield from objects(child, f"{pointer}/properties/{_escape(name)}")
        for index, child in enumerate(node.get("oneOf", [])):
            yield from objects(child, f"{pointer}/oneOf/{index}")

    found = []
    for name, schema in spec["components"]["schemas"].items():
        for pointer, node in objects(schema, _schema_pointer(name)):
            found.append(pointer)
            assert node.get("additionalProperties") is (pointer in OPEN_OBJECTS), pointer
    assert set(found) >= OPEN_OBJECTS


# Known-bad bodies: each must be rejected, which also proves the resolver follows $refs.
@pytest.mark.parametrize(
    ("schema_name", "body"),
    [
        pytest.param(
            "Conversation",
            {"id": 1, "messages": [], "progress": None},
            id="empty-transcript",
        ),
        pytest.param(
            "Conversation",
            {
                "id": 1,
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "system", "text": "b"},
                ],
                "progress": None,
            },
            id="lower-case-role",
        ),
        pytest.param(
            "Conversation",
            {
                "id": 1,
                "llm_conversation_id": "abc",
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "Assistant", "text": "b"},
                ],
                "progress": None,
            },
            id="leaks-llm-conversation-id",
        ),
        pytest.param(
            "Conversation",
            {
                "id": 1,
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "Assistant", "text": "b"},
                ],
            },
            id="progress-key-missing",
        ),
        pytest.param(
            "Conversation",
            {
                "id": None,
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "Assistant", "text": "b"},
                ],
                "progress": None,
            },
            id="null-id-outside-create",
        ),
        pytest.param(
            "Progress",
            {
                "current": 1,
                "total": 2,
                "percentage": 50,
                "objectives": [{"objective": "x", "status": "done"}],
            },
            id="unknown-objective-status",
        ),
        pytest.param(
            "Progress",
            {"current": 1, "total": 1, "percentage": 101, "objectives": []},
            id="percentage-over-100",
        ),
        pytest.param(
            "ConversationDetail",
            {
                "id": 1,
                "user_id": 2,
                "llm_conversation_id": None,
                "workflow_state": "active",
                "created_at": "2026-02-15T08:56:18Z",
                "updated_at": "2026-02-15T08:56:18Z",
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "Assistant", "text": "b"},
                ],
                "progress": None,
            },
            id="integer-user-id",
        ),
        pytest.param(
            "ConversationDetail",
            {
                "id": 1,
                "user_id": "2",
                "llm_conversation_id": None,
                "workflow_state": "active",
                "created_at": "yesterday",
                "updated_at": "2026-02-15T08:56:18Z",
                "messages": [
                    {"role": "User", "text": "a"},
                    {"role": "Assistant", "text": "b"},
                ],
                "progress": None,
            },
            id="timestamp-not-iso-8601",
        ),
        pytest.param(
            "DeleteResponse",
            {"message": "Conversation deleted"},
            id="unknown-delete-message",
        ),
        pytest.param("ActiveConversationResponse", {"id": 1}, id="half-a-conversation"),
        pytest.param(
            "SimpleError",
            {"error": "Resource Not Found", "status": "not_found"},
            id="extra-key",
        ),
        pytest.param("ErrorsList", {"errors": []}, id="no-errors"),
        pytest.param(
            "Unauthenticated",
            {"status": "unauthorized", "errors": [{"message": "x"}]},
            id="wrong-status",
        ),
        pytest.param("RateLimitedError", {"error": "slow down"}, id="rate-limit-without-code"),
    ],
)
def test_schema_rejects_invalid_body(schema_name: str, body: Any) -> None:
    assert not _validator(_schema_pointer(schema_name)).is_valid(body)


def test_401_bodies_are_told_apart() -> None:
    validator = _validator("/components/responses/Unauthorized401/content/application~1json/schema")
    assert validator.is_valid({"errors": [{"message": "Invalid access token."}]})
    assert validator.is_valid(
        {
            "status": "unauthenticated",
            "errors": [{"message": "user authorization required"}],
        }
    )
    assert validator.is_valid(
        {
            "status": "unauthorized",
            "errors": [{"message": "user not authorized to perform that action"}],
        }
    )
    assert not validator.is_valid({"errors": "Invalid as_user_id"})


# --- links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation_id", "status"),
    [pytest.param(operation_id, status, id=f"{operation_id}-{status}") for operation_id, status in EXPECTED_LINKS],
)
def test_response_links_to_follow_up_operations(spec: dict[str, Any], operation_id: str, status: str) -> None:
    response = _resolve(spec, _operation(spec, operation_id)["responses"][status])
    links = response.get("links", {})
    assert set(links) == EXPECTED_LINKS[(operation_id, status)]
    for name, link in links.items():
        link = _resolve(spec, link)
        assert link["operationId"] == LINK_TARGETS[name]
        assert link["parameters"] == LINK_PARAMETERS


def test_only_the_agreed_responses_declare_links(spec: dict[str, Any]) -> None:
    with_links = {
        (operation_id, status) for operation_id, status, response in _responses(spec) if response.get("links")
    }
    assert with_links == set(EXPECTED_LINKS)


def test_post_message_link_sends_a_valid_message(spec: dict[str, Any]) -> None:
    link = spec["components"]["links"]["PostMessage"]
    assert _validator(_schema_pointer("PostMessageRequest")).is_valid(link["requestBody"])


# --- examples ------------------------------------------------------------------

EXAMPLES = _collect_examples(_load_spec())


def test_every_success_and_error_response_has_an_example(spec: dict[str, Any]) -> None:
    for operation_id, status, response in _responses(spec):
        for media_type, media in response["content"].items():
            assert "example" in media or media.get("examples"), (
                operation_id,
                status,
                media_type,
            )


def test_every_component_example_is_used(spec: dict[str, Any]) -> None:
    used = set(_referenced_pointers(spec["paths"])) | set(_referenced_pointers(spec["components"]["responses"]))
    for name in spec["components"]["examples"]:
        assert f"#/components/examples/{name}" in used, name


def test_examples_were_found() -> None:
    # Guards the collector: operations, responses, parameters, headers and schemas.
    where = {param.id.split("/")[0] for param in EXAMPLES}
    assert len(EXAMPLES) > 40
    assert where >= OPERATION_IDS | {"responses", "parameters", "headers", "schemas"}


@pytest.mark.parametrize(("schema_pointer", "value"), EXAMPLES)
def test_example_matches_its_schema(schema_pointer: str, value: Any) -> None:
    errors = [error.message for error in _validator(schema_pointer).iter_errors(value)]
    assert errors == []
