"""The spec-checking proxy as an ASGI app: check each request, forward it, check the answer.

``Proxy`` reads a whole request, validates it with ``SpecValidator``, forwards it through a pool
of kept-alive HTTP/1.1 connections (``upstream.UpstreamPool``) and sends the upstream's status,
headers and body back unchanged (hop-by-hop headers aside: they describe a connection, not the
message). The answer goes to the client before it is checked and recorded: the checks cost the
client no time, and the exchange is recorded in the same step, so none is lost at the stop. Bodies are small
JSON documents, so nothing is streamed: buffering keeps the checks simple and costs nothing
measurable, and it is bounded: a body over ``max_body_bytes`` is not read whole but answered 413
by the proxy itself and not forwarded (the server drops the rest as it arrives). A body within
the budget is forwarded whole, so a Canvas that finds it too large answers with its own 413.
A client that leaves mid-body (or is timed out) gets nothing forwarded. With ``strict``, a
request that breaks the spec is answered 400 with a JSON body naming each violation and is not
forwarded.

``create_app()`` wraps the proxy in Starlette for two local routes (``/__proxy__/health`` and
``/__proxy__/report``, the live report) and for the lifespan that writes the report when the
server stops, however it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from canvas_ai_harness import budgets
from canvas_ai_harness.canvas import answers, bodies, routes
from canvas_ai_harness.canvas.requests import (
    MalformedRequest,
    bearer_token,
    read_params,
    request_token,
    request_tokens,
)
from canvas_ai_harness.proxy.intake import CLIENT_LEFT, LEFT, TOO_LARGE, read_body, too_large_answer
from canvas_ai_harness.proxy.message import decoded_body, end_to_end, header_dict
from canvas_ai_harness.proxy.observe import (
    STOPPED_WAITING,
    UPSTREAM_ERROR,
    Exchange,
    answer_kind,
    answer_label,
    digest,
)
from canvas_ai_harness.proxy.report import ConformanceReport, write_report
from canvas_ai_harness.proxy.upstream import UpstreamFailure, UpstreamPool
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.validation import Operation, SpecValidator, Violation

__all__ = ["CONTROL_PREFIX", "DEFAULT_UPSTREAM_TIMEOUT_S", "Proxy", "ProxyConfig", "create_app"]

log = logging.getLogger("canvas_ai_harness.proxy")

CONTROL_PREFIX: Final = "/__proxy__"
DEFAULT_UPSTREAM_TIMEOUT_S: Final = 60.0  # an AI call takes seconds; a minute without an answer is a hang
_FRAMING: Final = frozenset({b"host", b"content-length"})  # the pool writes both for the upstream
_MAX_PATHS: Final = 10_000  # redacted paths kept (Proxy._redacted_path); past it the cache starts again
_SETTLE_S: Final = 1.0  # at the stop, how long cancelled requests get to record themselves
_JSON: Final = [(b"content-type", b"application/json; charset=utf-8")]


@dataclass(slots=True, frozen=True)
class ProxyConfig:
    """How the proxy runs. ``secrets`` are tokens known in advance; every token seen is redacted too."""

    upstream: str
    strict: bool = False
    max_requests: int | None = None
    report_path: Path | None = None
    timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S  # how long to wait for the upstream (--upstream-timeout)
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
        # The redactor's cost grows with the tokens it knows (one per client): on the hot path a
        # token is handed to it once, and a path already redacted since the last new token is not
        # redacted again. Both stay in memory only, like the tokens of ``_clients``.
        self._learned: set[str] = set()
        self._generation = 0  # bumps with each token learned: a cached redaction from before is stale
        self._paths: dict[str, tuple[int, str]] = {}
        self.report = ConformanceReport(config.upstream.rstrip("/"), config.strict, self.redactor)
        self._on_limit = on_limit
        self._prefix = (urlsplit(config.upstream).path or "/").rstrip("/").encode()
        self._pool: UpstreamPool | None = None
        self._clients: dict[str, str] = {}  # token -> "client-N"; never written anywhere
        self._seq = 0
        self._waiting = 0  # requests waiting for the upstream
        # Answers sent (or being sent) and not yet recorded; settle() waits for none, from another thread.
        self._recording = 0
        self._recorded = threading.Condition()

    # -- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new report; upstream connections stay open (tests reuse one proxy this way)."""
        self.report = ConformanceReport(self.config.upstream.rstrip("/"), self.config.strict, self.redactor)
        self._clients.clear()
        self._seq = 0

    def _upstream(self) -> UpstreamPool:
        # Created on first use so that it belongs to the serving event loop.
        if self._pool is None:
            self._pool = UpstreamPool(self.config.upstream, self.config.timeout_s, self.config.max_connections)
        return self._pool

    async def aclose(self) -> None:
        """Close the upstream connections, finish the report and write it if a path was given.

        Requests the server cancelled at its stop (still waiting for the upstream) are counted
        first: they get a moment to record themselves as ``stopped-waiting``.
        """
        deadline = time.monotonic() + _SETTLE_S
        while self._waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
        self.report.finish()
        if self.config.report_path is not None:
            write_report(self.report, self.config.report_path)

    def settle(self, timeout: float) -> bool:
        """Wait (from another thread) until every answer sent has been recorded; ``False`` on timeout.

        An answer goes to its client before it is checked and recorded, so a client that reads
        the report as soon as it has its answer could otherwise miss its own exchange.
        """
        with self._recorded:
            return self._recorded.wait_for(lambda: self._recording == 0, timeout)

    # -- one request --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        self._seq += 1
        seq = self._seq
        method: str = scope["method"]
        query = scope["query_string"].decode("latin-1")
        headers = header_dict(scope["headers"])
        read = await read_body(headers, receive, self.config.max_body_bytes)
        # Not read whole (over the budget, or the client left mid-body): not checked, not forwarded.
        too_large, left = read is None, read is LEFT
        body = b"" if read is None or left else read
        client = self._client_label(headers, query, body)  # learns its tokens: before anything is written
        operation: Operation | None = None
        problems: list[Violation] = []
        if not (too_large or left):
            operation, problems = self.validator.validate_request(method, scope["path"], query, headers, body)
        path = self._redacted_path(scope["raw_path"].decode("latin-1") + (f"?{query}" if query else ""))
        if problems:
            log.warning("#%d %s %s: %s", seq, method, path, self.redactor("; ".join(map(str, problems))))

        params = operation.path_params if operation is not None else {}

        def account(
            status: int | None,
            answer: str,
            kind: str | None = None,
            response_problems: list[Violation] | None = None,
            created_id: str | None = None,
            failure: str | None = None,
            answered: tuple[dict[str, str], bytes] | None = None,
        ) -> None:
            experience = f"{params['course_id']}/{params['ai_experience_id']}" if "ai_experience_id" in params else None
            shown = bool(problems or response_problems)  # the report shows what violating exchanges sent and got
            got = answered if shown else None
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
                response_violations=tuple(response_problems or ()),
                upstream_failure=failure,
                request_headers=headers if shown else None,
                request_body=body if shown else b"",
                response_headers=got[0] if got else None,
                response_body=got[1] if got else None,
            )
            self.report.add(exchange, created_id)

        if too_large:
            await _send(send, *too_large_answer(self.config.max_body_bytes))
            account(None, TOO_LARGE)
        elif left:  # nobody to answer
            account(None, CLIENT_LEFT)
        elif problems and self.config.strict:
            await _send(send, 400, _JSON, _rejection(problems))
            account(None, "rejected")
        else:
            self._waiting += 1
            try:
                try:
                    out_status, out_headers, out_body = await self._forward(scope, method, body)
                finally:
                    self._waiting -= 1  # and, in the same step, the handler below records how it ended
            except UpstreamFailure as exc:
                failure = exc.kind
                message = f"canvas-ai-harness proxy: no answer from {self.config.upstream}: {failure} ({exc.reason})"
                log.warning("#%d %s %s: the upstream failed: %s (%s)", seq, method, path, failure, exc.reason)
                await _send(send, 502, _JSON, json.dumps({"error": message}).encode())
                account(None, UPSTREAM_ERROR, failure=failure)
            except asyncio.CancelledError:  # the proxy is stopping while the upstream has not answered
                account(None, UPSTREAM_ERROR, failure=STOPPED_WAITING)
                message = "canvas-ai-harness proxy: stopped before the upstream answered"
                with contextlib.suppress(Exception):  # the client may be gone: the task ends here either way
                    await _send(send, 502, _JSON, json.dumps({"error": message}).encode())
                return
            else:
                string_ids = bodies.CANVAS_STRING_IDS in headers.get("accept", "")
                await self._answer(send, (out_status, out_headers, out_body), operation, string_ids, account)
        limit = self.config.max_requests
        if limit is not None and self.report.requests >= limit and self._on_limit is not None:
            self._on_limit()

    async def _answer(
        self,
        send: Send,
        answer: tuple[int, list[tuple[bytes, bytes]], bytes],
        operation: Operation | None,
        string_ids: bool,
        account: Callable[..., None],
    ) -> None:
        """Send the upstream's answer, then check and record it.

        The client has its answer first: checking and recording cost it no time. The exchange is
        recorded even if the stop cancels the send (a client not reading), and ``settle`` knows
        it is being recorded from the moment the send starts.
        """
        status, out_headers, out_body = answer
        with self._recorded:
            self._recording += 1
        try:
            try:
                await _send(send, status, out_headers, out_body)
            finally:
                lower = header_dict(out_headers)
                decoded = decoded_body(lower, out_body)
                readable = out_body if decoded is None else decoded
                kind = answer_kind(status, lower, readable)
                problems: list[Violation] = []
                created_id: str | None = None
                if operation is not None:
                    problems = self._check_response(operation, status, lower, decoded, string_ids)
                    if operation.operation_id == routes.CREATE and kind == answers.OK:
                        created_id = _conversation_id(decoded)
                label = answer_label(status, kind, readable)
                account(status, label, kind, problems, created_id, answered=(lower, readable))
        finally:
            with self._recorded:
                self._recording -= 1
                if not self._recording:
                    self._recorded.notify_all()

    async def _forward(self, scope: Scope, method: str, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        raw_path: bytes = scope["raw_path"] or scope["path"].encode()
        query: bytes = scope["query_string"]
        target = self._prefix + raw_path + (b"?" + query if query else b"")
        # The body goes on whole (even one that came chunked), so the pool writes its length.
        headers = [(k, v) for k, v in end_to_end(scope["headers"]) if k.lower() not in _FRAMING]
        answer = await self._upstream().request(method.encode("ascii"), target, headers, body)
        out = end_to_end(answer.headers)
        if not any(k.lower() == b"content-length" for k, _ in out):
            out.append((b"content-length", str(len(answer.body)).encode()))
        return answer.status, out, answer.body

    def _check_response(
        self,
        operation: Operation,
        status: int,
        headers: dict[str, str],
        body: bytes | None,
        string_ids: bool,
    ) -> list[Violation]:
        if body is None:
            return [Violation("body", "compressed with an encoding the proxy cannot read; body not checked", "body")]
        validator = self.validator.with_string_ids() if string_ids else self.validator
        return validator.validate_response(operation.operation_id, status, headers, body)

    def _redacted_path(self, raw: str) -> str:
        known = self._paths.get(raw)
        if known is not None and known[0] == self._generation:
            return known[1]
        if len(self._paths) >= _MAX_PATHS:
            self._paths.clear()
        path = self.redactor(raw)
        self._paths[raw] = (self._generation, path)
        return path

    def _client_label(self, headers: dict[str, str], query: str, body: bytes) -> str:
        """A stable label per token; the token itself stays in memory only, for redaction.

        Every token the request carries is learned (``canvas.requests.request_tokens``) before
        anything about the request is written; the label is that of the token Canvas reads.
        """
        tokens = request_tokens(headers, query, headers.get("content-type"), body)
        for token in tokens:
            if token not in self._learned:
                self._learned.add(token)
                self.redactor.add(token)
                self._generation += 1
        if not tokens:
            return "anonymous"
        token = bearer_token(headers) or tokens[0]
        if len(tokens) > 1 and bearer_token(headers) is None:  # Canvas reads the body's over the query's
            with contextlib.suppress(MalformedRequest):
                token = request_token(headers, read_params(query, headers.get("content-type"), body)) or token
        label = self._clients.get(token)
        if label is None:
            label = self._clients[token] = f"client-{len(self._clients) + 1}"
        return label


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
