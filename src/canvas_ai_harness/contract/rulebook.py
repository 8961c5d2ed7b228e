"""The rulebook: every check, applied to every exchange the run makes.

``Rulebook`` observes each ``Exchange`` the client completes (from a fixed scenario, the
who-may-see-what matrix, a schemathesis-generated case or a stateful sequence alike), works out
what Canvas had to answer, from the target's identities and ids, the ledger and ``canvas/``,
records a pass or a failure for each check that applies, updates the ledger, and raises a
``ContractViolation`` naming every check the exchange broke. The checks themselves live by job:
``access.py`` (authorization and who may reach which conversation), ``body_rules.py`` (what a
successful answer holds) and ``conventions.py`` (``access_token``, ``.json``, ``as_user_id``: a
masquerade is judged as the user it acts as); this module adds the spec, server errors and unrouted requests.

Canvas quirks are not violations: routing 404 instead of 405, a JSON number accepted as a
message, a null ``id`` on create, lower-case header names, 401 instead of 403 for non-members
on older sites. A blank message is Ruby's ``blank?`` (``canvas.requests``), as on Canvas.
"""

from __future__ import annotations

import re
from typing import Any, Final

from canvas_ai_harness.canvas import answers, bodies, routes, transcript
from canvas_ai_harness.config import Target
from canvas_ai_harness.contract.access import UNKNOWN_COURSE, UNKNOWN_EXPERIENCE, AccessRules, Probe
from canvas_ai_harness.contract.body_rules import BodyRules
from canvas_ai_harness.contract.checks import UNROUTED, ContractViolation
from canvas_ai_harness.contract.client import ANONYMOUS, INVALID, Exchange
from canvas_ai_harness.contract.conventions import ConventionRules
from canvas_ai_harness.contract.details import ABSENT, Detail, difference, status_detail, value_at
from canvas_ai_harness.contract.ledger import Ledger
from canvas_ai_harness.contract.reading import int_id, is_blank_message, sent_message, snippet
from canvas_ai_harness.contract.verdicts import Results, Verdicts
from canvas_ai_harness.validation import SpecValidator, Violation

__all__ = ["UNKNOWN_COURSE", "UNKNOWN_EXPERIENCE", "Results", "Rulebook", "is_blank_message", "sent_message"]

_REQUIRED: Final = re.compile(r"^'([^']+)' is a required property")
_UNEXPECTED: Final = re.compile(r"\('([^']+)'(?:, '[^']+')* (?:was|were) unexpected\)")
_SPEC_KINDS: Final = {
    "status": "status-code-declared",
    "content-type": "content-type-declared",
    "header": "headers-conform",
    "schema": "body-matches-schema",
    "body": "body-matches-schema",
}


class Rulebook:
    """Judges every exchange of a run against the contract; raises ``ContractViolation``."""

    def __init__(
        self,
        target: Target,
        profile: answers.Profile,
        validator: SpecValidator,
        ledger: Ledger,
        results: Results,
        reproduce: Any,
        probe: Probe | None = None,
    ) -> None:
        self.target, self.profile, self.validator = target, profile, validator
        self.ledger, self.results = ledger, results
        self.access = AccessRules(target, profile, ledger, probe)
        self.bodies = BodyRules(profile, ledger)
        self.conventions = ConventionRules(self.access, ledger)
        self._reproduce = reproduce  # Exchange -> curl line

    def __call__(self, exchange: Exchange) -> None:
        verdicts = Verdicts(self.results, exchange.operation_id or UNROUTED)
        acting = self.conventions.acting(exchange)  # a masquerade is judged as the user it acts as
        if not self._conventions(exchange, acting, verdicts):
            self._evaluate(acting, verdicts)
            self._update_ledger(acting)
        self.conventions.learn(exchange)
        if verdicts.findings:
            raise ContractViolation(
                verdicts.findings, exchange.operation_id, self._reproduce(exchange), exchange.describe(), exchange
            )

    def _conventions(self, ex: Exchange, acting: Exchange, v: Verdicts) -> bool:
        """The conventions the spec leaves out; True when they alone judge the answer."""
        if ex.operation is None:
            return False
        if self.conventions.judge(ex, acting, v):
            self._server_error(ex, v)
            return True
        return False

    def _evaluate(self, ex: Exchange, v: Verdicts) -> None:
        self._server_error(ex, v)
        if ex.operation is None:
            self._unrouted(ex, v)
            return
        # The spec does not declare string ids; their validator also takes a string of digits there.
        self._spec(ex, v, self.validator.with_string_ids() if ex.string_ids else self.validator)
        self.access.judge(ex, v)
        body = ex.json()
        if 200 <= ex.status < 300 and isinstance(body, dict):
            self.bodies.judge(ex, v, body)

    def _server_error(self, ex: Exchange, v: Verdicts) -> None:
        body = ex.json()
        expected = set(answers.service_unavailable(self.profile, "reference"))
        ok = ex.status < 500 or (
            ex.status == 503
            and ex.operation_id not in (routes.DESTROY, None)
            and isinstance(body, dict)
            and isinstance(body.get("error"), str)
            and set(body) == expected
        )
        wanted = f"below 500, or 503 with a body of keys {sorted(expected)} (not on destroy)"
        v.judge(
            "no-server-error",
            ok,
            f"{ex.status} {snippet(ex)}",
            f"a 503 body with keys {sorted(expected)}",
            None if ok else _server_error_detail(ex, body, expected, wanted),
        )

    def _unrouted(self, ex: Exchange, v: Verdicts) -> None:
        _, problems = self.validator.match(ex.method, ex.path)
        if ex.method == "HEAD" or not problems:
            return  # Rails answers HEAD like GET
        if problems[0].kind == "method":
            ok = ex.status == 405 or (ex.status == 404 and ex.json() == bodies.ROUTE_NOT_FOUND)
        else:  # no route at all (an empty or junk path segment): any refusal but a server error
            ok = 400 <= ex.status < 500
        v.status(
            "unrouted-request-404",
            ex,
            ok,
            wanted="404 (Rails routing) or 405" if problems[0].kind == "method" else "a 4xx",
        )

    def _spec(self, ex: Exchange, v: Verdicts, validator: SpecValidator) -> None:
        assert ex.operation is not None
        problems: dict[str, list[Violation]] = {name: [] for name in _SPEC_KINDS.values()}
        for violation in validator.validate_response(ex.operation.operation_id, ex.status, ex.headers, ex.body):
            problems[_SPEC_KINDS.get(violation.kind, "body-matches-schema")].append(violation)
        for name, found in problems.items():
            detail = _spec_detail(ex, found[0]) if found else None
            v.judge(name, not found, "; ".join(map(str, found)), detail=detail)

    # -- what Canvas's answer teaches the ledger ---------------------------------------------------
    def _update_ledger(self, ex: Exchange) -> None:
        op, body = ex.operation_id, ex.json()
        if op is None or self.access.course_kind(ex.param("course_id")) != "target":
            return
        if ex.identity in (ANONYMOUS, INVALID, "outsider"):
            return
        experience = ex.param("ai_experience_id") or ""
        if self.access.experience_kind(experience) not in ("main", "other", "unpublished"):
            return
        if op == routes.CREATE:
            cid = int_id(body.get("id")) if isinstance(body, dict) else None
            self.ledger.after_create(ex.kind, ex.identity, ex.param("course_id") or "", experience, cid)
        elif op == routes.DESTROY and 200 <= ex.status < 300:
            cid = int_id(ex.param("id"))
            if cid is not None:
                self.ledger.destroyed(cid)
            return
        if 200 <= ex.status < 300 and isinstance(body, dict) and body:
            cid = int_id(ex.param("id")) if op in (routes.SHOW, routes.POST_MESSAGE) else int_id(body.get("id"))
            record = self.ledger.get(cid) if cid is not None else None
            if record is not None and record.experience_id == experience:
                self.ledger.seen(record.id, transcript.turns(body) or [], body.get("progress"))


def _server_error_detail(ex: Exchange, body: Any, expected: set[str], wanted: str) -> Detail:
    """A 5xx: its status, or for a 503 the body keys Canvas does not send."""
    if ex.status != 503 or ex.operation_id in (routes.DESTROY, None) or not isinstance(body, dict):
        return status_detail(ex.status, wanted)
    return difference(sorted(expected), sorted(body)) or status_detail(ex.status, wanted)


def _spec_detail(ex: Exchange, violation: Violation) -> Detail:
    """Where the spec's wording points (``body.messages[0].role``), as a path and the value found there."""
    where = violation.where
    if violation.kind == "status" or where == "status":
        declared = violation.message.partition("the spec declares ")[2]
        return status_detail(ex.status, f"one the spec declares: {declared}" if declared else violation.message)
    if where.startswith("header."):
        name = where.removeprefix("header.").split(".")[0].split("[")[0]
        wanted = (
            f"present (the spec requires it on {ex.status})"
            if "required header missing" in violation.message
            else (f"as the spec declares it: {violation.message}")
        )
        return Detail(f"headers.{name}", wanted, ex.headers.get(name.lower(), ABSENT), described=True)
    path = "$" + where.removeprefix("body")
    named = _REQUIRED.match(violation.message) or _UNEXPECTED.search(violation.message)
    if named:
        path = f"{path}.{named.group(1)}"
    got = value_at(ex.json(), path) if ex.json() is not None else ex.body.decode("utf-8", "replace")
    return Detail(path, violation.message, got, described=True)
