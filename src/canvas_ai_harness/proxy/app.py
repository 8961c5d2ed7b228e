"""The spec-checking proxy as an ASGI app: check each request, forward it, check the answer.

``Proxy`` reads a whole request, validates it with ``SpecValidator``, forwards it through one
pooled ``httpx.AsyncClient`` and sends the upstream's status, headers and body back unchanged
(hop-by-hop headers aside: they describe a connection, not the message). Bodies are small
JSON documents, so nothing is streamed: buffering keeps the checks simple and costs nothing
measurable, and it is bounded: a body over ``max_body_bytes`` is not read whole but answered 413
by the proxy itself and not forwarded (the server drops the rest as it arrives). A body within
the budget is forwarded whole, so a Canvas that finds it too large answers with its own 413.
With ``strict``, a request that breaks the spec is answered 400 with a JSON body
naming each violation and is not forwarded.

``create_app()`` wraps the proxy in Starlette for two local routes (``/__proxy__/health`` and
``/__proxy__/report``, the live report) and for the lifespan that writes the report when the
server stops, however it stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from canvas_ai_harness import budgets
from canvas_ai_harness.canvas import answers, bodies, routes
from canvas_ai_harness.canvas.requests import MalformedRequest, read_params, request_token
from canvas_ai_harness.proxy.observe import Exchange, answer_kind, answer_label, digest
from canvas_ai_harness.proxy.report import ConformanceReport, write_report
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.validation import Operation, SpecValidator, Violation

__all__ = ["CONTROL_PREFIX", "Proxy", "ProxyConfig", "create_app"]

log = logging.getLogger("canvas_ai_harness.proxy")

CONTROL_PREFIX: Final = "/__proxy__"
# RFC 9110 section 7.6.1: these describe one connection and are never forwarded.
_HOP_BY_HOP: Final = frozenset(
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
_JSON: Final = [(b"content-type", b"application/json; charset=utf-8")]
TOO_LARGE: Final = "413 body too large (not forwarded)"  # the report's answer for a body over the budget
CLIENT_LEFT: Final = "client left mid-body (not forwarded)"  # a truncated request is never forwarded
_LEFT: Final = b"<client left>"  # _read_body's answer for it (compared by identity)


@dataclass(slots=True, frozen=True)
class ProxyConfig:
    """How the proxy runs. ``secrets`` are tokens known in advance; every token seen is redacted too."""

    upstream: str
    strict: bool = False
    max_requests: int | None = None
    report_path: Path | None = None
    timeout_s: float = 120.0
    max_connections: int = 200
    secrets: tuple[str, ...] = ()
    max_body_bytes: int = budgets.PROXY_BODY_BYTES  # larger request bodies: the proxy answers 413, forwards nothing
    max_header_bytes: int = budgets.DEFAULT_HEADER_BYTES  # a request's line and headers; past it 431
    read_timeout_s: float = budgets.DEFAULT_READ_TIMEOUT_S  # for a request's head and body to arrive; past it 408
    max_idle_connections: int | None = None  # idle or incomplete connections; None: default_idle_connections()


class Proxy:
    """The ASGI callable that checks and forwards Canvas traffic; ``report`` accumulates what it saw."""

    def __init__(
        self,
        config: ProxyConfig,
        validator: SpecValidator | None = None,
        on_limit: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.validator = validator or SpecValidator()
        self.redactor = Redactor(config.secrets)
        self.report = ConformanceReport(config.upstream.rstrip("/"), config.strict, self.redactor)
        self._on_limit = on_limit
        base = httpx.URL(config.upstream.rstrip("/"))
        self._base = base
        self._prefix = base.raw_path.rstrip(b"/")
        self._client: httpx.AsyncClient | None = None
        self._clients: dict[str, str] = {}  # token -> "client-N"; never written anywhere
        self._seq = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new report; upstream connections stay open (tests reuse one proxy this way)."""
        self.report = ConformanceReport(self.config.upstream.rstrip("/"), self.config.strict, self.redactor)
        self._clients.clear()
        self._seq = 0

    def _http(self) -> httpx.AsyncClient:
        # Created on first use so that it belongs to the serving event loop.
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self.config.max_connections, max_keepalive_connections=self.config.max_connections
            )
            self._client = httpx.AsyncClient(
                timeout=self.config.timeout_s, limits=limits, follow_redirects=False, trust_env=False
            )
        return self._client

    async def aclose(self) -> None:
        """Close the upstream connections, finish the report and write it if a path was given."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.report.finish()
        if self.config.report_path is not None:
            write_report(self.report, self.config.report_path)

    # -- one request --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        self._seq += 1
        seq = self._seq
        method: str = scope["method"]
        query = scope["query_string"].decode("latin-1")
        headers = _header_dict(scope["headers"])
        read = await _read_body(headers, receive, self.config.max_body_bytes)
        # Not read whole (over the budget, or the client left mid-body): not checked, not forwarded.
        too_large, left = read is None, read is _LEFT
        body = b"" if too_large or left else read or b""
        operation: Operation | None = None
        problems: list[Violation] = []
        if not (too_large or left):
            operation, problems = self.validator.validate_request(method, scope["path"], query, headers, body)
        client = self._client_label(headers, query, body)
        path = self.redactor(scope["raw_path"].decode("latin-1") + (f"?{query}" if query else ""))
        if problems:
            log.warning("#%d %s %s: %s", seq, method, path, self.redactor("; ".join(map(str, problems))))

        status: int | None = None
        response_problems: list[Violation] = []
        created_id: str | None = None
        kind: str | None = None
        if too_large:
            answer = TOO_LARGE
            out_status, out_headers, out_body = _too_large(self.config.max_body_bytes)
        elif left:  # nobody to answer: the server drops what is sent
            answer = CLIENT_LEFT
            out_status, out_headers, out_body = 400, _JSON, b"{}"
        elif problems and self.config.strict:
            answer = "rejected"
            out_status, out_headers, out_body = 400, _JSON, _rejection(problems)
        else:
            try:
                out_status, out_headers, out_body = await self._forward(scope, method, body)
            except httpx.HTTPError as exc:
                answer = "upstream error"
                message = f"canvas-ai-harness proxy: no answer from {self.config.upstream}: {type(exc).__name__}"
                out_status, out_headers, out_body = 502, _JSON, json.dumps({"error": message}).encode()
            else:
                status = out_status
                lower = _header_dict(out_headers)
                decoded = _decoded_body(lower, out_body)
                readable = out_body if decoded is None else decoded
                kind = answer_kind(out_status, lower, readable)
                answer = answer_label(out_status, kind, readable)
                if operation is not None:
                    string_ids = bodies.CANVAS_STRING_IDS in headers.get("accept", "")
                    response_problems = self._check_response(operation, out_status, out_headers, decoded, string_ids)
                    if operation.operation_id == routes.CREATE and kind == answers.OK:
                        created_id = _conversation_id(decoded)

        await send({"type": "http.response.start", "status": out_status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out_body})

        params = operation.path_params if operation is not None else {}
        experience = f"{params['course_id']}/{params['ai_experience_id']}" if "ai_experience_id" in params else None
        exchange = Exchange(
            seq=seq,
            client=client,
            method=method,
            path=path,
            operation_id=operation.operation_id if operation is not None else None,
            conversation_id=params.get("id"),
            experience=experience,
            body_digest=digest(body),
            started=started,
            finished=time.monotonic(),
            status=status,
            answer=answer,
            kind=kind,
            request_violations=tuple(problems),
            response_violations=tuple(response_problems),
        )
        self.report.add(exchange, created_id)
        limit = self.config.max_requests
        if limit is not None and self.report.requests >= limit and self._on_limit is not None:
            self._on_limit()

    async def _forward(self, scope: Scope, method: str, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        raw_path: bytes = scope["raw_path"] or scope["path"].encode()
        query: bytes = scope["query_string"]
        url = self._base.copy_with(raw_path=self._prefix + raw_path + (b"?" + query if query else b""))
        headers = [(k, v) for k, v in _end_to_end(scope["headers"]) if k.lower() != b"host"]
        if any(k.lower() == b"transfer-encoding" for k, _ in scope["headers"]):
            # The body was chunked; it goes on whole, so it gets a length.
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        request = httpx.Request(method, url, headers=headers, content=body)
        response = await self._http().send(request, stream=True)
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        out = _end_to_end(response.headers.raw)
        if not any(k.lower() == b"content-length" for k, _ in out):
            out.append((b"content-length", str(len(raw)).encode()))
        return response.status_code, out, raw

    def _check_response(
        self,
        operation: Operation,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        string_ids: bool,
    ) -> list[Violation]:
        if body is None:
            return [Violation("body", "compressed with an encoding the proxy cannot read; body not checked", "body")]
        validator = self.validator.with_string_ids() if string_ids else self.validator
        return validator.validate_response(operation.operation_id, status, _header_dict(headers), body)

    def _client_label(self, headers: dict[str, str], query: str, body: bytes) -> str:
        """A stable label per token; the token itself stays in memory only, for redaction."""
        params: dict[str, Any] = {}
        if "access_token" in query or b"access_token" in body:  # parse only when it may be there
            try:
                params = read_params(query, headers.get("content-type"), body)
            except MalformedRequest:
                params = dict(parse_qsl(query))
        token = request_token(headers, params)
        if not token:
            return "anonymous"
        label = self._clients.get(token)
        if label is None:
            label = self._clients[token] = f"client-{len(self._clients) + 1}"
            self.redactor.add(token)
        return label


async def _read_body(headers: dict[str, str], receive: Receive, limit: int) -> bytes | None:
    """The request body; ``None`` when it is longer than ``limit`` bytes (then read no further);
    ``_LEFT`` when the client left (or was timed out) before sending all of it."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _LEFT
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _too_large(limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The proxy's own 413: the body is over its budget and was neither read whole nor forwarded."""
    message = f"canvas-ai-harness proxy: the request body is over {limit} bytes (--max-body-bytes); not forwarded"
    body = json.dumps({"error": message}).encode()
    # The server discards the rest of the body as it arrives (within the read timeout), never holding it.
    return 413, [*_JSON, (b"content-length", str(len(body)).encode())], body


def _end_to_end(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers meant for the other end: hop-by-hop ones and those ``Connection`` names dropped."""
    named = {t.strip().lower() for k, v in raw if k.lower() == b"connection" for t in v.split(b",")}
    return [(k, v) for k, v in raw if k.lower() not in _HOP_BY_HOP and k.lower() not in named]


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " as RFC 9110 allows."""
    out: dict[str, str] = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def _decoded_body(lower: dict[str, str], body: bytes) -> bytes | None:
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


def _conversation_id(body: bytes | None) -> str | None:
    try:
        data: Any = json.loads(body or b"")
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None


def _rejection(problems: list[Violation]) -> bytes:
    """The ``--strict`` answer: what is wrong with the request, each violation named."""
    body = {
        "error": "the request does not conform to specs/openapi.yaml and was not forwarded "
        "(canvas-ai-harness proxy --strict)",
        "violations": [{"kind": p.kind, "where": p.where, "message": p.message} for p in problems],
    }
    return json.dumps(body, ensure_ascii=False).encode()


class _ProxyApp(Starlette):
    """Starlette for the local routes and the lifespan; all other traffic goes straight to the proxy.

    Proxied requests skip Starlette's middleware and router: they gain nothing from them and
    would pay for them on every request.
    """

    def __init__(self, proxy: Proxy, routes: list[Route], lifespan: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan)
        self.router.default = proxy
        self.state.proxy = proxy
        self._proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            await self._proxy(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(proxy: Proxy) -> Starlette:
    """The proxy with its two local routes; stopping the app writes the report (see ``Proxy.aclose``)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "upstream": proxy.config.upstream, "requests": proxy.report.requests})

    async def report(request: Request) -> JSONResponse:
        return JSONResponse(proxy.report.to_dict())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.aclose()

    routes = [
        Route(f"{CONTROL_PREFIX}/health", health, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/report", report, methods=["GET"]),
    ]
    return _ProxyApp(proxy, routes, lifespan)
