"""What a client did: one ``Exchange`` per request, and how the client reacted to Canvas's answers.

``BehaviourObserver`` follows each client (one per token) through its requests in arrival order
and records what a careful client does or does not do next:

- repeated a request unchanged after a 4xx that is not throttling and got the same answer again
  (Canvas will answer the same), however many other requests came between;
- retried after a 503 or after throttling (403 "Rate Limit Exceeded", 429), and whether it
  waited longer each time (backoff) or hammered;
- kept sending to a conversation it had itself closed (DELETE, or a newer create, even one
  answered 503: Canvas closes the old conversation before it calls its AI; ``canvas.lifecycle``);
- created twice in a row, closing a conversation it never used.

The observer keeps a little state per client and a bounded list of examples, so a long proxy
run costs constant memory per client.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from canvas_ai_harness.canvas import answers, lifecycle, routes
from canvas_ai_harness.validation import Violation

__all__ = [
    "MEET_WITH_MOCK",
    "MIN_BACKOFF_S",
    "UPSTREAM_FAILURES",
    "Behaviour",
    "BehaviourObserver",
    "Exchange",
    "answer_kind",
    "answer_label",
]

MIN_BACKOFF_S: Final = 0.05  # a retry sooner than this is "immediate": no backoff at all
_MAX_EXAMPLES: Final = 20
_MAX_CLOSED: Final = 1000
_MAX_REFUSED: Final = 200  # per client: the latest distinct requests answered with a 4xx, to find repeats

# How an upstream failed to answer a request (the client got the proxy's 502, or nothing).
REFUSED: Final = "refused"  # no connection: nothing listens, or it refused
RESET: Final = "reset"  # the connection broke before a whole answer came
TIMEOUT: Final = "timeout"  # no answer within --upstream-timeout
STOPPED_WAITING: Final = "stopped-waiting"  # still waiting when the proxy stopped
UPSTREAM_FAILURES: Final = (REFUSED, RESET, TIMEOUT, STOPPED_WAITING)
UPSTREAM_ERROR: Final = "upstream error"  # the answer label of each

# The answers a client must be ready for (issue 5); the report says which it met.
NOTABLE_ANSWERS: Final = ("201", "{}", "400", "401", "403", "403 throttled", "404", "429", "503")
# How `proxy --mock` makes its mock give the answers a faithful client cannot provoke alone.
MEET_WITH_MOCK: Final = {
    "503": "--llm-failure-rate 0.3",
    "403 throttled": "--throttle --throttle-outflow 0 --throttle-cost 100 (from a user's 9th request)",
    "429": "--profile ended (after a user's 100 creates in a day)",
}


@dataclass(slots=True, frozen=True)
class Exchange:
    """One request through the proxy and what came back. Holds no token: ``client`` is a label."""

    seq: int
    client: str
    method: str
    path: str  # as the client sent it, query included, tokens redacted
    operation_id: str | None
    conversation_id: str | None
    experience: str | None  # "course/experience", to tell one experience's conversations apart
    body_digest: str
    started: float
    finished: float
    status: int | None  # None: not forwarded (strict) or no upstream answer
    answer: str  # answer_label() of the response, or "rejected" / "upstream error"
    request_violations: tuple[Violation, ...] = ()
    response_violations: tuple[Violation, ...] = ()
    kind: str | None = None  # canvas.answers' kind of the answer; None: no answer
    upstream_failure: str | None = None  # how the upstream failed to answer (UPSTREAM_FAILURES), if it did
    # What a violating request sent and got back, for the report (not redacted yet: the report does it);
    # left empty for a conforming exchange.
    request_headers: Mapping[str, str] | None = None
    request_body: bytes = b""
    response_headers: Mapping[str, str] | None = None
    response_body: bytes | None = None  # decoded (gzip undone); None: no answer

    @property
    def same_request_key(self) -> tuple[str, str, str]:
        return (self.method, self.path.split("?", 1)[0], self.body_digest)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def answer_kind(status: int, headers: Mapping[str, str], body: bytes) -> str:
    """The kind of an answer (``canvas.answers``): ok, throttled, daily_limit, ai_unavailable..."""
    return answers.classify(status, headers, body)


def answer_label(status: int, kind: str, body: bytes) -> str:
    """Name an answer the way the report counts it: ``"201"``, ``"{}"``, ``"403 throttled"``..."""
    if status == 200 and body.strip() == b"{}":
        return "{}"
    if status == 403 and kind == answers.THROTTLED:
        return "403 throttled"
    return str(status)


@dataclass(slots=True)
class Behaviour:
    """One kind of client behaviour: how often, and the requests that showed it."""

    name: str
    verdict: str  # "problem", "good" or "info"
    description: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(example)


_BEHAVIOURS: Final = (
    (
        "retried-client-error",
        "problem",
        "repeated a request unchanged after a 4xx that is not throttling, and got the same answer",
    ),
    ("retried-503-without-backoff", "problem", "retried after a 503 without waiting longer each time"),
    ("retried-503-with-backoff", "good", "retried after a 503, waiting longer each time"),
    ("retried-throttled-without-backoff", "problem", "retried after throttling without waiting longer each time"),
    ("retried-throttled-with-backoff", "good", "retried after throttling, waiting longer each time"),
    ("gave-up-after-503", "info", "did not retry after a 503"),
    ("gave-up-after-throttling", "info", "did not retry after throttling"),
    ("used-closed-conversation", "problem", "kept using a conversation it had closed (DELETE or a newer create)"),
    ("double-create", "problem", "created twice in a row, closing a conversation it never used"),
)


@dataclass(slots=True)
class _Chain:
    """Retries of one request after a 503 or throttling."""

    first: Exchange
    last: Exchange
    kind: str  # "503" or "throttled"
    delays: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _ClientState:
    last: Exchange | None = None
    chain: _Chain | None = None
    closed: OrderedDict[str, int] = field(default_factory=OrderedDict)  # conversation id -> seq that closed it
    fresh_create: dict[str, Exchange] = field(default_factory=dict)  # experience -> a 201 not used since
    # the request (method, path, body digest) -> (seq, path, answer) of its latest 4xx (not throttling);
    # no Exchange is kept: it may hold a body
    refused: OrderedDict[tuple[str, str, str], tuple[int, str, str]] = field(default_factory=OrderedDict)


def _failure_kind(exchange: Exchange) -> str | None:
    if exchange.kind == answers.AI_UNAVAILABLE:
        return "503"
    if exchange.kind in answers.SLOW_DOWN:
        return "throttled"
    return None


class BehaviourObserver:
    """Follows each client through its requests; not thread-safe (the proxy's event loop calls it)."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {name: Behaviour(name, v, d) for name, v, d in _BEHAVIOURS}
        self._clients: dict[str, _ClientState] = {}
        # (client, experience) -> the conversation the client created and has not seen closed
        self._active: lifecycle.Conversations[str, str, str] = lifecycle.Conversations()

    def observe(self, exchange: Exchange, created_id: str | None = None) -> None:
        """Account for ``exchange``; ``created_id`` is the conversation id a 201 create returned."""
        state = self._clients.setdefault(exchange.client, _ClientState())
        self._follow_retries(state, exchange)
        self._follow_refusals(state, exchange)
        self._follow_lifecycle(state, exchange, created_id)
        state.last = exchange

    def finish(self) -> None:
        """Close the retry chains still open (the run ended during them)."""
        for state in self._clients.values():
            if state.chain is not None:
                self._close_chain(state.chain, retried_to=None)
                state.chain = None

    # -- retries ------------------------------------------------------------------------------
    def _follow_retries(self, state: _ClientState, exchange: Exchange) -> None:
        last, chain = state.last, state.chain
        repeats = last is not None and last.same_request_key == exchange.same_request_key
        if chain is not None:
            if repeats:
                chain.delays.append(exchange.started - chain.last.finished)
                chain.last = exchange
                if _failure_kind(exchange) is not None:
                    return  # still failing: the chain goes on
                self._close_chain(chain, retried_to=exchange)
            else:
                self._close_chain(chain, retried_to=None)
            state.chain = None
        kind = _failure_kind(exchange)
        if kind is not None and state.chain is None:
            state.chain = _Chain(exchange, exchange, kind)

    def _follow_refusals(self, state: _ClientState, exchange: Exchange) -> None:
        """A request sent again unchanged after a 4xx, anywhere later in the stream, answered the same.

        A repeat answered differently (the state changed between) or a 2xx clears the memory of it.
        """
        if exchange.status is None:  # not forwarded, or no answer: nothing to compare
            return
        key = exchange.same_request_key
        earlier = state.refused.pop(key, None)
        if not _is_client_error(exchange):
            return
        if earlier is not None and earlier[2] == exchange.answer:
            seq, path, answer = earlier
            between = exchange.seq - seq - 1
            gap = "right after" if between == 0 else f"{between} request{'' if between == 1 else 's'} after"
            self.behaviours["retried-client-error"].add(
                f"#{exchange.seq} repeated #{seq} ({exchange.method} {path}) unchanged, "
                f"{gap} its {answer}; answered {exchange.answer} again"
            )
        state.refused[key] = (exchange.seq, exchange.path, exchange.answer)
        while len(state.refused) > _MAX_REFUSED:
            state.refused.popitem(last=False)

    def _close_chain(self, chain: _Chain, retried_to: Exchange | None) -> None:
        label = "503" if chain.kind == "503" else "throttled"
        what = f"{chain.first.method} {chain.first.path}"
        if not chain.delays:
            self.behaviours[f"gave-up-after-{'503' if label == '503' else 'throttling'}"].add(
                f"#{chain.first.seq} {what}: {chain.first.answer}, not retried"
            )
            return
        backoff = all(d >= MIN_BACKOFF_S for d in chain.delays) and all(
            later >= earlier * 0.9 for earlier, later in zip(chain.delays, chain.delays[1:], strict=False)
        )
        delays = ", ".join(f"{d:.3f} s" for d in chain.delays)
        outcome = chain.last.answer
        name = f"retried-{label}-{'with' if backoff else 'without'}-backoff"
        self.behaviours[name].add(
            f"#{chain.first.seq} {what}: {len(chain.delays)} {'retry' if len(chain.delays) == 1 else 'retries'} "
            f"after {chain.first.answer} "
            f"(waited {delays}; last answer {outcome})"
        )

    # -- conversation lifecycle ---------------------------------------------------------------
    def _follow_lifecycle(self, state: _ClientState, exchange: Exchange, created_id: str | None) -> None:
        op, conv, exp = exchange.operation_id, exchange.conversation_id, exchange.experience
        if op is None or exp is None:
            return
        if conv is not None and op in (routes.POST_MESSAGE, routes.DESTROY) and conv in state.closed:
            self.behaviours["used-closed-conversation"].add(
                f"#{exchange.seq} {exchange.method} {exchange.path}: conversation {conv} was closed by "
                f"#{state.closed[conv]}"
            )
        if op == routes.CREATE:
            previous = state.fresh_create.pop(exp, None)
            if previous is not None:
                self.behaviours["double-create"].add(
                    f"#{exchange.seq} created again; the conversation #{previous.seq} created was never used"
                )
            kind = exchange.kind or answers.CANVAS_ERROR
            old = self._active.after_create(kind, exchange.client, exp, created_id)
            if old is not None:
                self._mark_closed(state, old, exchange.seq)
            if exchange.kind == answers.OK:
                state.fresh_create[exp] = exchange
            return
        if conv is not None and op != routes.SHOW:
            fresh = state.fresh_create.get(exp)
            if fresh is not None:
                del state.fresh_create[exp]
        if op == routes.DESTROY and exchange.kind == answers.OK and conv is not None:
            self._mark_closed(state, conv, exchange.seq)
            self._active.ended(exchange.client, exp, conv)

    @staticmethod
    def _mark_closed(state: _ClientState, conversation_id: str, seq: int) -> None:
        state.closed[conversation_id] = seq
        state.closed.move_to_end(conversation_id)
        while len(state.closed) > _MAX_CLOSED:
            state.closed.popitem(last=False)


def _is_client_error(exchange: Exchange) -> bool:
    status = exchange.status or 0
    return 400 <= status < 500 and _failure_kind(exchange) is None
