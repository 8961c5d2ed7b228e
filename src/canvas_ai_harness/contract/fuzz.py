"""Property-based and stateful testing driven by ``specs/openapi.yaml`` through schemathesis.

schemathesis generates the cases (examples, coverage and fuzzing phases; positive and negative
data) and, through the spec's links, the stateful sequences (create, post messages, show, end).
Every case is sent through the run's ``CanvasClient``, so the budget, pacing, throttling retries,
cleanup and the whole rulebook apply to it exactly as to the fixed scenarios. Path parameters of
positive cases are pinned to the target's course, experience and a real conversation, so that
requests reach Canvas's logic rather than its 404s.

Creates are what Canvas allows fewest of (profile ``ended``: 100 per user a day), so each
exploration has a cap (``EXPLORATION_CREATES``): generated creates beyond it are not sent, the
destroy exploration aims at a fresh conversation only a few times (then at the closed one, whose
404 is a rule too), and the stateful sequences end once theirs are spent. Each exploration acts
as the student with the fewest creates so far.

A violation is recorded, not raised inside Hypothesis: a stateful server cannot replay a failing
example faithfully (Hypothesis would call it flaky), and each further example would cost AI
calls. The pytest plugin raises the recorded violation once the test function returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hypothesis
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from canvas_ai_harness.contract.allowance import CREATE
from canvas_ai_harness.contract.caches import schemathesis_cache
from canvas_ai_harness.contract.checks import CHECKS, ContractViolation, Finding
from canvas_ai_harness.contract.client import COSTLY_OPERATIONS, Exchange
from canvas_ai_harness.contract.details import status_detail
from canvas_ai_harness.contract.limits import BudgetExhausted, CannotRun
from canvas_ai_harness.contract.reading import is_blank_message
from canvas_ai_harness.spec import spec_path

if TYPE_CHECKING:
    from canvas_ai_harness.contract.session import ContractSession

__all__ = ["EXPLORATION_CREATES", "OperationRunner", "load_schema", "negative_data_rejected", "run_sequences"]

# Creates each exploration may make: the operation's own cases (create), the fresh conversations
# destroy aims at, the one conversation the other operations aim at, and the stateful sequences.
EXPLORATION_CREATES = {CREATE: 3, "deleteConversation": 2, "sequences": 6}
OTHER_EXPLORATION_CREATES = 1

# Statuses that refuse a spec-violating request. 413: a body over the server's size limit.
_REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


def load_schema(max_examples: int, seed: int, max_steps: int = 6) -> Any:
    """The spec as a schemathesis schema, configured for a contract run."""
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "suppress-health-check": ["all"],
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "database": "none",
                "no-shrink": True,
                "with-security-parameters": False,  # each identity's token is the client's business
                "allow-x00": False,  # Canvas's database cannot store NUL; that is not this contract
            },
            "phases": {
                "coverage": {"unexpected-methods": ["PUT", "PATCH"]},
                "stateful": {"max-steps": max(2, max_steps)},
            },
            "checks": {"negative_data_rejection": {"expected-statuses": _REJECTIONS}},
            "output": {"sanitization": {"enabled": True}},
            "cache": {"directory": schemathesis_cache()},  # never .schemathesis/ in the working directory
        }
    )
    return schemathesis.openapi.from_path(spec_path(), config=config)


def negative_data_rejected(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's ``negative_data_rejection``, minus Canvas's documented quirk.

    Canvas does not type-check ``message`` (a JSON number is accepted as text), and its idea of a
    blank message is Ruby's: a body whose only fault is a ``message`` Canvas finds present may be
    accepted.
    """
    meta = case.meta
    negative = {loc for loc, info in meta.components.items() if info.mode.is_negative} if meta else set()
    accepted = 200 <= response.status_code < 300 and negative <= {ParameterLocation.BODY}
    body = case.body if isinstance(case.body, dict) else {}
    if accepted and "message" in body and is_blank_message(body["message"]) is False:
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


def _pin(session: ContractSession, case: Any, conversation: int | None) -> None:
    meta = case.meta
    info = meta.components.get(ParameterLocation.PATH) if meta else None
    if info is not None and info.mode == GenerationMode.NEGATIVE:
        return  # keep the generated junk: it tests Canvas's refusals
    params = dict(case.path_parameters)
    params["course_id"] = session.target.course_id
    params["ai_experience_id"] = session.target.ai_experience_id
    if "id" in params and conversation is not None:
        params["id"] = str(conversation)
    case.path_parameters = params


def _violation(session: ContractSession, group: FailureGroup, exchange: Exchange) -> ContractViolation:
    failures = getattr(group, "exceptions", ())
    got = "; ".join(f"{f.title}: {f.message}" for f in failures) or str(group)
    got = f"{exchange.status} to {exchange.describe()}; {session.redactor(got)}"
    finding = Finding(CHECKS["negative-data-rejected"], got, detail=status_detail(exchange.status, "a 4xx refusal"))
    return ContractViolation(
        [finding], exchange.operation_id, session.client.curl(exchange), exchange.describe(), exchange
    )


class _Exploration:
    """What one exploration (an operation's cases, or the sequences) has spent and found."""

    def __init__(self, session: ContractSession, name: str) -> None:
        self.session = session
        # the operations' explorations and the sequences share what the fixed scenarios left
        self.allowance = session.budget.share(session.explorations_left)
        cap = EXPLORATION_CREATES.get(name, OTHER_EXPLORATION_CREATES)
        share = session.creates.share(session.explorations_left)
        self.creates_allowed = cap if share is None else min(cap, share)
        session.explorations_left = max(1, session.explorations_left - 1)
        self.student = session.next_student()
        self.spent = 0
        self.created = 0
        self.unsent = 0  # costly cases not sent because this exploration's share was spent
        self.violation: ContractViolation | None = None
        self.stopped: CannotRun | None = None

    def affordable(self, operation_id: str | None) -> bool:
        if operation_id == CREATE and self.created >= self.creates_allowed:
            return False
        if operation_id not in COSTLY_OPERATIONS or self.allowance is None:
            return True
        return self.spent < self.allowance

    def send(self, identity: str, kwargs: dict[str, Any], operation_id: str | None) -> Exchange | None:
        """Send a prepared case; ``None`` when it was not sent or broke the contract (recorded)."""
        if not self.affordable(operation_id):
            self.unsent += 1
            return None
        costly = operation_id in COSTLY_OPERATIONS
        self.created += operation_id == CREATE
        try:
            exchange = self.session.client.send_prepared(identity, kwargs)
        except ContractViolation as violation:
            self.spent += costly
            self.violation = violation
            return None
        except BudgetExhausted:
            self.unsent += 1
            return None
        except CannotRun as stop:
            self.stopped = stop
            return None
        self.spent += costly
        return exchange

    def check_negative(self, case: Any, exchange: Exchange, negative: bool) -> None:
        """schemathesis's judgement of a generated case: invalid data must be refused."""
        if not self.session.results.applies("negative-data-rejected"):
            return  # deselected (--only/--skip)
        try:
            case.validate_response(exchange.response, checks=[negative_data_rejected])
            ok = True
        except FailureGroup as group:
            self.violation = self.violation or _violation(self.session, group, exchange)
            ok = False
        if negative:
            self.session.results.record("negative-data-rejected", exchange.operation_id or "", ok)

    def finish(self) -> None:
        """Raise what this exploration found (a violation), or why it stopped early."""
        self.session.unsent += self.unsent
        if self.violation is not None:
            raise self.violation
        if self.stopped is not None:
            raise self.stopped


class OperationRunner(_Exploration):
    """Sends one operation's generated cases through the client (one pytest test per operation)."""

    def __init__(self, session: ContractSession, operation_id: str) -> None:
        super().__init__(session, operation_id)
        self.operation_id = operation_id
        self._seen: set[tuple[str, str, bytes, str]] = set()
        self._conversation: int | None = None

    def identity(self) -> str:
        teacher = self.session.target.tokens.teacher is not None
        return "teacher" if self.operation_id == "getConversation" and teacher else self.student

    def conversation(self) -> int:
        """A conversation of the student's to aim at: their active one, started if need be."""
        ledger, target = self.session.ledger, self.session.target
        if self._conversation is not None:
            record = ledger.get(self._conversation)
            still_open = record is not None and record.active
            # destroy closes its conversation; aim the next cases at a fresh one while the budget allows
            if self.operation_id != "deleteConversation" or still_open or not self.affordable("createConversation"):
                return self._conversation
        active = ledger.active_record(self.student, target.ai_experience_id)
        if active is not None:
            self._conversation = active.id
            return active.id
        client = self.session.client
        self.spent += 1
        self.created += 1
        created = client.request(self.student, "POST", client.path())
        body = created.json()
        if created.status not in (200, 201) or not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise CannotRun(
                f"could not start a conversation to test {self.operation_id} (create answered {created.status})"
            )
        self._conversation = int(body["id"])
        return self._conversation

    def run(self, case: Any) -> None:
        """Pin, send and check one generated case."""
        if self.violation is not None or self.stopped is not None:
            return
        try:
            conversation = self.conversation() if "id" in case.path_parameters else None
        except ContractViolation as violation:
            self.violation = violation
            return
        except CannotRun as stop:
            self.stopped = stop
            return
        _pin(self.session, case, conversation)
        kwargs = case.as_transport_kwargs(base_url=self.session.target.base_url)
        key = _key(kwargs)
        if key in self._seen:
            return  # pinning made it the same request as an earlier case
        self._seen.add(key)
        negative = _is_negative(case)
        exchange = self.send(self.identity(), kwargs, self.operation_id)
        if exchange is not None:
            self.check_negative(case, exchange, negative)


def _is_negative(case: Any) -> bool:
    meta = case.meta
    return meta is not None and any(info.mode.is_negative for info in meta.components.values())


def _key(kwargs: dict[str, Any]) -> tuple[str, str, bytes, str]:
    body = kwargs.get("json", kwargs.get("data"))
    headers = kwargs.get("headers") or {}
    ctype = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    return (str(kwargs["method"]), str(kwargs["url"]) + repr(kwargs.get("params")), repr(body).encode(), ctype)


class _Halt(Exception):
    """Ends the stateful run: a violation was recorded, the budget share is spent, or Canvas throttles."""


def run_sequences(session: ContractSession, schema: Any, examples: int) -> None:
    """Run the spec's stateful sequences (links from create and active to show, post and end)."""
    exploration = _Exploration(session, "sequences")
    teacher = session.target.tokens.teacher is not None
    base = schema.as_state_machine()

    class CanvasSequences(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.last: Exchange | None = None
            self.negative = False

        def call(self, case: Any, **kwargs: Any) -> Any:
            # Stopping, rather than answering without sending, keeps schemathesis's links and
            # Hypothesis's replay of the stopping example consistent.
            operation_id = operation_id_of(case)
            if exploration.violation is not None or exploration.stopped is not None:
                raise _Halt
            if not exploration.affordable(operation_id):
                exploration.unsent += 1
                raise _Halt
            _pin(session, case, None)
            self.negative = _is_negative(case)
            identity = "teacher" if operation_id == "getConversation" and teacher else exploration.student
            self.last = exploration.send(
                identity, case.as_transport_kwargs(base_url=session.target.base_url), operation_id
            )
            if self.last is None:
                raise _Halt
            return schemathesis.Response.from_any(self.last.response)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            if self.last is not None and exploration.violation is None:
                exploration.check_negative(case, self.last, self.negative)

    CanvasSequences._hypothesis_internal_use_seed = session.seed
    settings = hypothesis.settings(
        max_examples=examples,
        stateful_step_count=max(2, session.settings.max_steps),
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        report_multiple_bugs=False,
    )
    from schemathesis.generation.stateful import run_state_machine_as_test

    try:
        run_state_machine_as_test(CanvasSequences, settings=settings)
    except hypothesis.errors.Flaky:
        # Hypothesis replays the start of a sequence to extend it; a server's state moves on, so a
        # replay can take another turn. That ends the exploration; it says nothing about Canvas.
        session.notes.append("the stateful sequences ended early: a replayed sequence met a server in another state")
    except Exception:
        halted = exploration.violation is not None or exploration.stopped is not None or exploration.unsent
        if not halted:
            raise
    exploration.finish()


def operation_id_of(case: Any) -> str | None:
    raw: Callable[[str], Any] = case.operation.definition.raw.get
    value = raw("operationId")
    return value if isinstance(value, str) else None
