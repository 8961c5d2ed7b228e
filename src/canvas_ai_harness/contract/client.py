"""Every request of a contract run goes through one ``CanvasClient``.

It sends as one of the target file's identities (or with no token, or an invalid one), keeps to
the AI-call and create budgets and the pace, retries when Canvas throttles (403/429 "Rate Limit
Exceeded": slow down, never a failure), counts what it sent (and what each identity spent of
Canvas's daily allowance), and hands each answered ``Exchange`` to its observers (the rulebook),
which may raise a ``ContractViolation``. An answer saying the identity met Canvas's daily limit
(profile ``ended``'s 429 ``rate_limited``) is judged, then raised as ``DailyLimitReached``: the
check that sent it could not run. ``curl()`` reproduces an
exchange with the token shown as ``$CANVAS_TOKEN``.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlencode, urlsplit

import httpx

from canvas_ai_harness.canvas import answers, bodies
from canvas_ai_harness.canvas.requests import media_type
from canvas_ai_harness.config import Target
from canvas_ai_harness.contract.allowance import CREATE, Allowance
from canvas_ai_harness.contract.checks import ContractViolation
from canvas_ai_harness.contract.limits import (
    CreateBudget,
    DailyLimitReached,
    LLMBudget,
    MissingTargetField,
    Pacer,
    Throttled,
)
from canvas_ai_harness.errors import TargetUnreachable
from canvas_ai_harness.redact import TOKEN_ENV, Redactor, curl_command
from canvas_ai_harness.validation import Operation, SpecValidator

__all__ = [
    "ANONYMOUS",
    "COSTLY_OPERATIONS",
    "INVALID",
    "CanvasClient",
    "Exchange",
    "is_throttled",
]

ANONYMOUS: Final = "anonymous"  # no token at all
INVALID: Final = "invalid-token"  # a token Canvas does not know
INVALID_TOKEN: Final = "canvas-ai-harness-not-a-token"  # not a secret: it opens nothing
COSTLY_OPERATIONS: Final = frozenset({CREATE, "postMessage"})  # each a real AI call
_UNSET: Final[Any] = object()
_ACCESS_TOKEN_VALUE: Final = re.compile(r"(?<=access_token=)[^&]*")
_TOKEN_PLACEHOLDER: Final = f"${TOKEN_ENV}"
_ACTIONS: Final = {CREATE: "creates", "postMessage": "messages"}
_DROPPED_HEADERS = frozenset({"user-agent", "accept-encoding", "connection", "content-length", "host"})


@dataclass(slots=True)
class Exchange:
    """One request the run sent and the answer Canvas gave (after any throttling retries)."""

    identity: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    headers: dict[str, str]  # names lower-case
    body: bytes
    operation: Operation | None
    response: httpx.Response
    _parsed: Any = field(default=_UNSET, repr=False)
    redact: Callable[[str], str] = field(default=str, repr=False)  # the run's Redactor: redact, then shorten

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    @property
    def operation_id(self) -> str | None:
        return self.operation.operation_id if self.operation else None

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type"))

    @property
    def kind(self) -> str:
        """What kind of answer Canvas gave (``canvas.answers``): ok, throttled, daily_limit..."""
        return answers.classify(self.status, self.headers, self.body)

    @property
    def string_ids(self) -> bool:
        """Whether the request asked for string ids (``Accept: application/json+canvas-string-ids``)."""
        accept = next((v for k, v in self.request_headers.items() if k.lower() == "accept"), "")
        return bodies.CANVAS_STRING_IDS in accept

    def param(self, name: str) -> str | None:
        """A path parameter, percent-decoded."""
        if self.operation is None or name not in self.operation.path_params:
            return None
        return unquote(self.operation.path_params[name])

    def json(self) -> Any:
        """The parsed JSON body, or ``None`` when the body is not JSON."""
        if self._parsed is _UNSET:
            self._parsed = None
            if self.media_type == "application/json" or self.media_type.endswith("+json"):
                try:
                    self._parsed = json.loads(self.body)
                except ValueError:
                    self._parsed = None
        return self._parsed

    def record(self) -> dict[str, Any]:
        """The request and the answer for a report, redacted (whole: the caller shortens them).

        A JSON body is pretty-printed, so that a report can cut it around a difference.
        """
        redact = self.redact
        query = f"?{_ACCESS_TOKEN_VALUE.sub(_TOKEN_PLACEHOLDER, self.query)}" if self.query else ""
        request_type = next((v for k, v in self.request_headers.items() if k.lower() == "content-type"), "")
        return {
            "request": {
                "method": self.method,
                "path": redact(self.path + query),
                "identity": self.identity,
                "headers": {k: redact(v) for k, v in self.request_headers.items() if k.lower() not in _DROPPED_HEADERS},
                "body": redact(_body_text(self.request_body, media_type(request_type))),
            },
            "response": {
                "status": self.status,
                "headers": {k: redact(v) for k, v in self.headers.items()},
                "body": redact(_body_text(self.body, self.media_type)),
            },
        }

    def describe(self) -> str:
        # A token sent as an access_token parameter is never shown, whatever redacts later.
        query = f"?{_ACCESS_TOKEN_VALUE.sub(_TOKEN_PLACEHOLDER, self.query)}" if self.query else ""
        return f"{self.method} {self.path}{query} as {self.identity} -> {self.status}"


def is_throttled(status: int, headers: Mapping[str, str], body: bytes | str) -> bool:
    """Canvas's throttling (403 or 429 "Rate Limit Exceeded"): slow down and retry, never a failure.

    Profile ``ended``'s daily limit is not retried: a run cannot wait a day, and the rulebook
    judges it as an answer (``canvas.answers``).
    """
    return answers.classify(status, headers, body) in answers.RETRY_SOON


class CanvasClient:
    """The run's HTTP client: identities, budget, pace, throttling retries, counting, observers."""

    def __init__(
        self,
        target: Target,
        *,
        validator: SpecValidator,
        redactor: Redactor,
        budget: LLMBudget,
        pacer: Pacer,
        timeout: float = 60.0,
        retry_base: float = 0.5,
        max_retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        creates: CreateBudget | None = None,
    ) -> None:
        self.target = target
        self.path = target.path  # the path of a conversations route (``Target.path``)
        self.validator = validator
        self.redactor = redactor
        self.budget = budget
        self.creates = creates if creates is not None else CreateBudget(None)
        self.allowance = Allowance()  # what each identity spent, and what Canvas said is left
        self.pacer = pacer
        self.retry_base = retry_base
        self.max_retries = max_retries
        self._sleep = sleep
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)
        self.observers: list[Callable[[Exchange], None]] = []
        self.ticks: list[Callable[[], None]] = []  # called after each request went out (the live line)
        self.sent = 0
        # Creates that broke off (Ctrl-C, a dead target) before the ledger heard Canvas's answer,
        # as (identity, course, experience): Canvas may have opened a conversation. Clean-up asks it.
        self.unsettled_creates: set[tuple[str, str, str]] = set()
        self.by_operation: Counter[str] = Counter()
        self.throttle_retries = 0

    def close(self) -> None:
        self.http.close()

    # -- identities and paths -----------------------------------------------------------------
    def token_for(self, identity: str) -> str | None:
        """The token an identity sends; ``MissingTargetField`` when the target file has none."""
        if identity == ANONYMOUS:
            return None
        if identity == INVALID:
            return INVALID_TOKEN
        token = self.target.tokens.of(identity)
        if token is None:
            raise MissingTargetField(f"tokens.{identity}")
        return token

    # -- sending ------------------------------------------------------------------------------
    def request(
        self,
        identity: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = _UNSET,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        observe: bool = True,
        token_in: str = "header",
    ) -> Exchange:
        """Send ``method path`` as ``identity``; a JSON body, a form, or none.

        ``token_in`` says where the token goes: ``header`` (``Authorization: Bearer``), or an
        ``access_token`` parameter in the ``query`` or the ``form`` body, as Canvas also reads it.
        """
        all_headers = dict(headers or {})
        bearer = token_in == "header"
        if not bearer:
            token = self.token_for(identity)
            if token is None or token_in not in ("query", "form"):
                raise ValueError(f"token_in {token_in!r} needs an identity with a token and query or form")
            if token_in == "query":
                params = {**(params or {}), "access_token": token}
            else:
                form = {**(form or {}), "access_token": token}
        body = b""
        if json_body is not _UNSET:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urlencode(form).encode("ascii")
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        url = self.target.base_url + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        return self._send(identity, method, url, all_headers, body, observe, bearer)

    def send_prepared(self, identity: str, kwargs: Mapping[str, Any]) -> Exchange:
        """Send a request schemathesis prepared (``case.as_transport_kwargs()``) as ``identity``."""
        headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in _DROPPED_HEADERS}
        body: bytes = b""
        if "json" in kwargs:
            body = json.dumps(kwargs["json"], ensure_ascii=False).encode("utf-8")
        elif isinstance(kwargs.get("data"), Mapping | list):
            body = urlencode(kwargs["data"], doseq=True).encode("ascii")
        elif isinstance(kwargs.get("data"), str):
            body = kwargs["data"].encode("utf-8")
        elif isinstance(kwargs.get("data"), bytes):
            body = kwargs["data"]
        url = str(kwargs["url"])
        if kwargs.get("params"):
            url += ("&" if urlsplit(url).query else "?") + urlencode(kwargs["params"], doseq=True)
        return self._send(identity, str(kwargs["method"]), url, headers, body, observe=True)

    def _send(
        self,
        identity: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        observe: bool,
        bearer: bool = True,
    ) -> Exchange:
        token = self.token_for(identity)
        for name in [k for k in headers if k.lower() == "authorization"]:
            del headers[name]
        if token is not None and bearer:
            headers["Authorization"] = f"Bearer {token}"
        operation, _ = self.validator.match(method, urlsplit(url).path)
        operation_id = operation.operation_id if operation is not None else None
        costly = operation_id in COSTLY_OPERATIONS
        budgets = [self.budget, self.creates] if operation_id == CREATE else [self.budget] if costly else []
        for index, budget in enumerate(budgets):
            try:
                budget.charge()
            except BaseException:
                for charged in budgets[:index]:
                    charged.refund()
                raise
        creating = _create_key(identity, operation)
        if creating is not None:
            self.unsettled_creates.add(creating)  # until the answer has reached the ledger
        try:
            response = self._with_retries(method, url, headers, body, operation)
        except BaseException:
            for budget in budgets:
                budget.refund()
            raise
        if 400 <= response.status_code < 500:
            for budget in budgets:
                budget.refund()  # refused before Canvas called its AI
        elif costly and operation_id is not None:
            self.allowance.spent(identity, operation_id)
        exchange = Exchange(
            identity,
            method.upper(),
            url,
            headers,
            body,
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            operation,
            response,
            redact=self.redactor,
        )
        try:
            if observe:
                for observer in self.observers:
                    observer(exchange)
        except ContractViolation:
            self._settled(creating)  # judged: the rulebook has told the ledger
            raise
        self._settled(creating)  # observed, or the caller records what it needs
        if costly and operation_id is not None and exchange.kind == answers.DAILY_LIMIT:
            self.allowance.met_limit(identity, operation_id, exchange.headers, exchange.json())
            raise DailyLimitReached(
                f"{identity} hit Canvas's daily limit for {_ACTIONS[operation_id]} (429 rate_limited); the check "
                "could not run: run again tomorrow, or list more students in the target file ([tokens] students)"
            )
        return exchange

    def _settled(self, creating: tuple[str, str, str] | None) -> None:
        if creating is not None:
            self.unsettled_creates.discard(creating)

    def _with_retries(
        self, method: str, url: str, headers: dict[str, str], body: bytes, operation: Operation | None
    ) -> httpx.Response:
        label = operation.operation_id if operation else "unmatched"
        for attempt in range(self.max_retries + 1):
            self.pacer.wait()
            try:
                response = self.http.request(method, url, headers=headers, content=body or None)
            except httpx.TransportError as exc:
                raise TargetUnreachable(
                    f"{self.redactor(url)} stopped answering ({type(exc).__name__}: {self.redactor(str(exc))}); "
                    "check that the target is up"
                ) from exc
            self.sent += 1
            self.by_operation[label] += 1
            for tick in self.ticks:
                tick()
            if not is_throttled(response.status_code, response.headers, response.content):
                self.pacer.answered(_float(response.headers.get("x-rate-limit-remaining")))
                return response
            self.throttle_retries += 1
            self.pacer.throttled()
            if attempt < self.max_retries:
                self._sleep(min(30.0, self.retry_base * 2**attempt))
        raise Throttled(
            f"Canvas kept throttling {method} {urlsplit(url).path} after {self.max_retries} retries "
            "(403/429 Rate Limit Exceeded); try a lower --rate-limit"
        )

    # -- reproduction -------------------------------------------------------------------------
    def curl(self, exchange: Exchange) -> str:
        """A ``curl`` line reproducing ``exchange``.

        The token comes from the variable the target file names for that identity
        (``tokens.student = "${CANVAS_STUDENT_TOKEN}"``: ``$CANVAS_STUDENT_TOKEN``), else ``$CANVAS_TOKEN``.
        """
        named = self.target.token_vars.get(exchange.identity)
        line = curl_command(
            exchange.method,
            exchange.url,
            exchange.request_headers,
            exchange.request_body,
            self.redactor,
            named or TOKEN_ENV,
        )
        if exchange.identity == INVALID:
            return f"{TOKEN_ENV}={INVALID_TOKEN} {line}"
        if exchange.identity == ANONYMOUS or named:
            return line
        return f"{line}  # {TOKEN_ENV}: the target's {self.target.tokens.key(exchange.identity)}"


def _body_text(body: bytes, media: str) -> str:
    """A body as text; JSON pretty-printed (its keys in their order), anything else as it came."""
    text = body.decode("utf-8", "replace")
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


def _create_key(identity: str, operation: Operation | None) -> tuple[str, str, str] | None:
    """(identity, course, experience) of a create sent as a real identity, else ``None``."""
    if operation is None or operation.operation_id != "createConversation" or identity in (ANONYMOUS, INVALID):
        return None
    params = operation.path_params
    return identity, unquote(params.get("course_id", "")), unquote(params.get("ai_experience_id", ""))


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
