"""The rulebook: every check, applied to every exchange the run makes.

``Rulebook`` observes each ``Exchange`` the client completes (from a fixed scenario, the
who-may-see-what matrix, a schemathesis-generated case or a stateful sequence alike), works out
what Canvas had to answer, from the target's identities and ids, the ledger and ``rules.py``,
records a pass or a failure for each check that applies, updates the ledger, and raises a
``ContractViolation`` naming every check the exchange broke.

Canvas quirks are not violations: routing 404 instead of 405, a JSON number accepted as a
message, a null ``id`` on create, lower-case header names, 401 instead of 403 for non-members
on older sites. Where the mock's Python and Canvas's Ruby could disagree (what counts as a blank
message), the rulebook asserts only what both agree on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from canvas_ai_harness import rules
from canvas_ai_harness.config import Target
from canvas_ai_harness.contract.checks import CHECKS, UNROUTED, ContractViolation, Finding
from canvas_ai_harness.contract.client import ANONYMOUS, INVALID, Exchange
from canvas_ai_harness.contract.ledger import ConversationRecord, Ledger, covered_objectives
from canvas_ai_harness.validation import SpecValidator

__all__ = ["UNKNOWN_COURSE", "UNKNOWN_EXPERIENCE", "Results", "Rulebook", "is_blank_message", "sent_message"]

A, C, S, P, D = "getActiveConversation", "createConversation", "getConversation", "postMessage", "deleteConversation"
MANAGERS: Final = frozenset({"teacher", "admin"})
# Ids that exist on no Canvas; requests to them must be refused.
UNKNOWN_COURSE: Final = "9223372036854775001"
UNKNOWN_EXPERIENCE: Final = "9223372036854775002"
# Ruby's blank? (what Canvas's `present?` tests) counts only Unicode White_Space; Python's
# str.strip() also strips U+001C..U+001F. A message of those alone is left unjudged.
_RUBY_BLANK: Final = re.compile(r"[ \t\n\v\f\r\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\Z")
_LONGEST_ANY_PROFILE_ACCEPTS: Final = min(p.max_message_chars for p in rules.PROFILES.values() if p.max_message_chars)
_SPEC_KINDS: Final = {
    "status": "status-code-declared",
    "content-type": "content-type-declared",
    "header": "headers-conform",
    "schema": "body-matches-schema",
    "body": "body-matches-schema",
}
_UNKNOWN: Final[Any] = object()  # a message whose value the request does not make plain


@dataclass(slots=True)
class Results:
    """How often each check passed and failed, per operation."""

    evaluations: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def record(self, check: str, operation: str, ok: bool) -> None:
        counts = self.evaluations.setdefault((check, operation), [0, 0])
        counts[0 if ok else 1] += 1


def sent_message(exchange: Exchange) -> Any:
    """The ``message`` Canvas will read (query merged with a JSON or form body, the body winning).

    ``None`` when absent; the module's ``_UNKNOWN`` when the body cannot be read the way Canvas
    would read it (malformed, or only readable by Python's lenient parsers).
    """
    params: dict[str, Any] = dict(parse_qsl(exchange.query, keep_blank_values=True))
    body = exchange.request_body
    if body:
        ctype = next((v for k, v in exchange.request_headers.items() if k.lower() == "content-type"), "")
        media = ctype.split(";")[0].strip().lower()
        try:
            text = body.decode("utf-8")
            if media == "application/json" or media.endswith("+json"):
                data = json.loads(text, parse_constant=_refuse_constant)
                json.dumps(data, ensure_ascii=False).encode("utf-8")  # lone surrogates: unreadable to Ruby
                if isinstance(data, dict):
                    params.update(data)
            elif media == "application/x-www-form-urlencoded":
                params.update(parse_qsl(text, keep_blank_values=True, errors="strict"))
        except (UnicodeError, ValueError, RecursionError):
            return _UNKNOWN
    return params.get("message")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_blank_message(value: Any) -> bool | None:
    """Whether Canvas treats ``message`` as missing: True, False, or None when it is not plain."""
    if value is _UNKNOWN:
        return None
    if value is None or value is False or value in ("", [], {}):
        return True
    if isinstance(value, str):
        if _RUBY_BLANK.match(value):
            return True
        return False if value.strip() else None
    if isinstance(value, list | dict):
        return None
    return False


def _int_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _snippet(exchange: Exchange, limit: int = 300) -> str:
    text = exchange.body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _messages(body: Any) -> list[tuple[str, Any]] | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    return [(str(m.get("role")), m.get("text")) if isinstance(m, dict) else ("?", "?") for m in messages]


def _short(text: Any, limit: int = 80) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + f"... ({len(text) if isinstance(text, str) else '?'})"


class _Verdicts:
    """The findings of one exchange; every judgement is also counted in ``Results``."""

    def __init__(self, results: Results, operation: str) -> None:
        self.results, self.operation = results, operation
        self.findings: list[Finding] = []

    def judge(self, name: str, ok: bool, got: str = "", expected: str = "") -> bool:
        self.results.record(name, self.operation, ok)
        if not ok:
            self.findings.append(Finding(CHECKS[name], got, expected))
        return ok


class Rulebook:
    """Judges every exchange of a run against the contract; raises ``ContractViolation``."""

    def __init__(
        self,
        target: Target,
        profile: rules.Profile,
        validator: SpecValidator,
        ledger: Ledger,
        results: Results,
        reproduce: Any,
    ) -> None:
        self.target, self.profile, self.validator = target, profile, validator
        self.ledger, self.results = ledger, results
        self._reproduce = reproduce  # Exchange -> curl line

    def __call__(self, exchange: Exchange) -> None:
        verdicts = _Verdicts(self.results, exchange.operation_id or UNROUTED)
        self._evaluate(exchange, verdicts)
        self._update_ledger(exchange)
        if verdicts.findings:
            raise ContractViolation(
                verdicts.findings, exchange.operation_id, self._reproduce(exchange), exchange.describe(), exchange
            )

    # -- what applies ---------------------------------------------------------------------------
    def _evaluate(self, ex: Exchange, v: _Verdicts) -> None:
        self._server_error(ex, v)
        if ex.operation is None:
            self._unrouted(ex, v)
            return
        # The spec does not declare string ids; their validator also takes a string of digits there.
        self._spec(ex, v, self.validator.with_string_ids() if ex.string_ids else self.validator)
        self._authorization(ex, v)
        if 200 <= ex.status < 300 and isinstance(ex.json(), dict):
            self._body(ex, v, ex.json())

    def _server_error(self, ex: Exchange, v: _Verdicts) -> None:
        body = ex.json()
        expected = set(rules.service_unavailable(self.profile, "reference"))
        ok = ex.status < 500 or (
            ex.status == 503
            and ex.operation_id not in (D, None)
            and isinstance(body, dict)
            and isinstance(body.get("error"), str)
            and set(body) == expected
        )
        v.judge("no-server-error", ok, f"{ex.status} {_snippet(ex)}", f"a 503 body with keys {sorted(expected)}")

    def _unrouted(self, ex: Exchange, v: _Verdicts) -> None:
        _, problems = self.validator.match(ex.method, ex.path)
        if ex.method == "HEAD" or not problems:
            return  # Rails answers HEAD like GET
        if problems[0].kind == "method":
            ok = ex.status == 405 or (ex.status == 404 and ex.json() == rules.ROUTE_NOT_FOUND)
        else:  # no route at all (an empty or junk path segment): any refusal but a server error
            ok = 400 <= ex.status < 500
        v.judge("unrouted-request-404", ok, f"{ex.status} {_snippet(ex)}")

    def _spec(self, ex: Exchange, v: _Verdicts, validator: SpecValidator) -> None:
        assert ex.operation is not None
        problems: dict[str, list[str]] = {name: [] for name in _SPEC_KINDS.values()}
        for violation in validator.validate_response(ex.operation.operation_id, ex.status, ex.headers, ex.body):
            problems[_SPEC_KINDS.get(violation.kind, "body-matches-schema")].append(str(violation))
        for name, found in problems.items():
            v.judge(name, not found, "; ".join(found))

    # -- who may see what -------------------------------------------------------------------------
    def _course_kind(self, ref: str | None) -> str | None:
        t = self.target
        if ref is None:
            return None
        if ref == t.course_id or (t.course_sis_id is not None and ref == f"sis_course_id:{t.course_sis_id}"):
            return "target"
        if ref == t.feature_disabled_course_id:
            return "flag-off"
        return "unknown" if ref == UNKNOWN_COURSE else None

    def _experience_kind(self, ref: str | None) -> str | None:
        t = self.target
        kinds = {
            t.ai_experience_id: "main",
            t.other_ai_experience_id: "other",
            t.unpublished_ai_experience_id: "unpublished",
            t.deleted_ai_experience_id: "deleted",
            t.other_course_ai_experience_id: "other-course",
            UNKNOWN_EXPERIENCE: "unknown",
        }
        return kinds.get(ref) if ref is not None else None

    def _expect(
        self, v: _Verdicts, name: str, ex: Exchange, statuses: tuple[int, ...], body: Any, www: bool = False
    ) -> bool:
        www_ok = not www or ex.headers.get("www-authenticate") == rules.WWW_AUTHENTICATE
        ok = ex.status in statuses and ex.json() == body and www_ok
        got = f"{ex.status} {_snippet(ex)}" + ("" if www_ok else " (no WWW-Authenticate header)")
        header = f" with WWW-Authenticate: {rules.WWW_AUTHENTICATE}" if www else ""
        expected = f"{' or '.join(map(str, statuses))} {json.dumps(body)}{header}"
        return v.judge(name, ok, got, expected)

    def _authorization(self, ex: Exchange, v: _Verdicts) -> None:
        op = ex.operation_id
        course = self._course_kind(ex.param("course_id"))
        if ex.identity == INVALID:
            self._expect(v, "invalid-token-401", ex, (401,), rules.INVALID_TOKEN, www=True)
            return
        if course == "unknown":
            self._expect(v, "unknown-course-404", ex, (404,), rules.ROUTE_NOT_FOUND)
            return
        if course == "flag-off":
            self._expect(v, "feature-flag-off-404", ex, (404,), rules.NOT_FOUND)
            return
        if course != "target":
            return
        if (
            self.target.course_sis_id is not None
            and ex.param("course_id") == f"sis_course_id:{self.target.course_sis_id}"
        ):
            found = not (ex.status == 404 and ex.json() == rules.ROUTE_NOT_FOUND)
            v.judge("sis-course-id-same-course", found, f"{ex.status} {_snippet(ex)}", "the same answer as by id")
        if ex.identity == ANONYMOUS:
            self._expect(v, "no-token-401", ex, (401,), rules.UNAUTHENTICATED, www=True)
            return
        if ex.identity == "outsider":
            www = ex.status == 401  # older sites answer non-members 401, which always carries the header
            self._expect(v, "outsider-403", ex, (403, 401), rules.FORBIDDEN, www=www)
            return
        kind = self._experience_kind(ex.param("ai_experience_id"))
        refused = {"unknown": "unknown-experience-404", "deleted": "deleted-experience-404"}
        refused["other-course"] = "other-course-experience-404"
        if kind in refused:
            self._expect(v, refused[kind], ex, (404,), rules.NOT_FOUND)
            return
        if kind is None:
            return
        if kind == "unpublished" and op in (A, C):
            v.judge("unpublished-experience-allowed", ex.status != 404, f"{ex.status} {_snippet(ex)}")
        experience = ex.param("ai_experience_id") or ""
        if op == A:
            self._active(ex, v, experience)
        elif op == C:
            ok = ex.status in (201, 503) or self._daily_limit(ex)
            v.judge("create-answers-201", ok, f"{ex.status} {_snippet(ex)}")
        else:
            self._conversation(ex, v, experience)

    def _daily_limit(self, ex: Exchange) -> bool:
        body = ex.json()
        return ex.status == 429 and isinstance(body, dict) and body.get("code") == "rate_limited"

    def _closure(self, record: ConversationRecord) -> str:
        return "create-closes-previous" if record.closed_by == "create" else "destroy-closes"

    def _active(self, ex: Exchange, v: _Verdicts, experience: str) -> None:
        if ex.status != 200 or not self.ledger.knows_active(ex.identity, experience):
            return
        body = ex.json()
        got_id = _int_id(body.get("id")) if isinstance(body, dict) else None
        expected = self.ledger.active_id(ex.identity, experience)
        got = f"200 {_snippet(ex)}"
        if expected is None:
            v.judge("active-empty-after-end", body == {}, got, "200 {}")
        else:
            v.judge("active-returns-own-active", got_id == expected, got, f"200 with id {expected}")
        record = self.ledger.get(got_id) if got_id is not None else None
        stale = record is not None and record.closed_by is not None
        cause = record.closed_by if stale and record else self.ledger.last_closure(ex.identity, experience)
        if cause is not None:
            name = "create-closes-previous" if cause == "create" else "destroy-closes"
            v.judge(name, not stale, f"{got} (conversation {got_id} was closed by a {cause})")

    def _conversation(self, ex: Exchange, v: _Verdicts, experience: str) -> None:
        op, status, got = ex.operation_id, ex.status, f"{ex.status} {_snippet(ex)}"
        blank = is_blank_message(sent_message(ex)) if op == P else None
        if blank and 200 <= status < 300:
            v.judge("blank-message-400", False, got, f"400 {json.dumps(rules.BLANK_MESSAGE)}")
        cid = _int_id(ex.param("id"))
        record = self.ledger.get(cid) if cid is not None else None
        if record is None:
            return
        if record.experience_id != experience:
            self._expect(v, "other-experience-conversation-404", ex, (404,), rules.NOT_FOUND)
            return
        if ex.identity in MANAGERS:
            v.judge("teacher-reaches-any-conversation", status not in (403, 404), got)
            if op == P:
                self._message(ex, v)
            return
        if record.owner != ex.identity:
            self._expect(v, "another-students-conversation-404", ex, (404,), rules.NOT_FOUND)
            return
        if record.closed_by is not None:
            ok = status == 404 and ex.json() == rules.NOT_FOUND
            expected = f"404 {json.dumps(rules.NOT_FOUND)} (conversation {cid} was closed by a {record.closed_by})"
            v.judge("closed-conversation-404", ok, got, expected)
            v.judge(self._closure(record), ok, got, expected)
            if ok:
                self.ledger.confirmed_closed(record.id)
        elif op == S:
            self._expect(v, "show-by-student-403", ex, (403,), rules.FORBIDDEN)
        elif op == D:
            v.judge("destroy-closes", status == 200, got, "200: the caller's own active conversation is closed")
        else:
            self._message(ex, v)

    def _message(self, ex: Exchange, v: _Verdicts) -> None:
        """post_message to a conversation the caller may reach: the message decides the answer."""
        value = sent_message(ex)
        blank = is_blank_message(value)
        got = f"{ex.status} {_snippet(ex)}"
        accepted = ex.status in (200, 503) or self._daily_limit(ex)
        if blank:
            self._expect(v, "blank-message-400", ex, (400,), rules.BLANK_MESSAGE)
        elif blank is False and isinstance(value, str):
            limit = self.profile.max_message_chars
            if limit is not None and len(value) > limit:
                self._expect(v, "profile-message-limit", ex, (422,), self.profile.too_long)
            elif len(value) > _LONGEST_ANY_PROFILE_ACCEPTS:
                v.judge("profile-message-limit", accepted, got, f"200 for a {len(value)}-character message")
            else:
                v.judge("non-blank-message-accepted", accepted, got, "200 with the whole transcript")

    # -- bodies ---------------------------------------------------------------------------------
    def _body(self, ex: Exchange, v: _Verdicts, body: dict[str, Any]) -> None:
        op = ex.operation_id
        if op in (C, A, P):
            leaked = sorted(set(rules.HIDDEN_ID_KEYS) & set(_keys(body)))
            v.judge("llm-id-not-leaked", not leaked, f"{', '.join(leaked)} in the body: {_snippet(ex)}")
        if op == D:
            expected = {"message": self.profile.destroy_message}
            v.judge("profile-destroy-message", body == expected, _snippet(ex), json.dumps(expected))
            return
        if not body:
            return  # active's {}: judged above
        self._ids(ex, v, body)
        record = self.ledger.get(_int_id(ex.param("id")) or _int_id(body.get("id")) or -1)
        self._progress(ex, v, body, record)
        messages = body.get("messages")
        if isinstance(messages, list):
            self._message_shapes(ex, v, messages)
        if op == P:
            self._transcript(ex, v, body, record)
        elif op in (A, S) and record is not None and record.messages is not None:
            new = _messages(body) or []
            prev = record.messages
            v.judge("earlier-messages-unchanged", new[: len(prev)] == prev, _first_difference(prev, new))
        if op == S:
            self._show(ex, v, body, record)

    def _ids(self, ex: Exchange, v: _Verdicts, body: dict[str, Any]) -> None:
        if ex.string_ids:
            bad = [k for k, value in _id_values(body) if not isinstance(value, str | None)]
            ok = rules.stringify_ids(body) == body
            v.judge("string-ids-on-request", ok, f"integer ids under {', '.join(sorted(set(bad)))}: {_snippet(ex)}")
            return
        nested = {k: value for k, value in body.items() if k != "id"}
        bad = [repr(value) for k, value in _id_values(nested) if k == "id" and not _is_int(value)]
        top = body.get("id")
        if "id" in body and not _is_int(top) and not (ex.operation_id == C and top is None):
            bad.insert(0, repr(top))  # create's id is null when the AI service returned none
        v.judge("integer-ids", not bad, f"non-integer id values {', '.join(bad[:3])}: {_snippet(ex)}")

    def _progress(self, ex: Exchange, v: _Verdicts, body: dict[str, Any], record: ConversationRecord | None) -> None:
        progress = body.get("progress")
        if not isinstance(progress, dict):
            return  # null is allowed; a missing key is the schema's business
        current, total, pct = progress.get("current"), progress.get("total"), progress.get("percentage")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (current, total, pct)):
            return  # the schema check reports it
        assert isinstance(current, int) and isinstance(total, int)
        problems = []
        if current > total:
            problems.append(f"current {current} > total {total}")
        if pct != rules.percentage(current, total):
            problems.append(f"percentage {pct}, expected {rules.percentage(current, total)} for {current}/{total}")
        if record is not None:
            lost = record.covered - covered_objectives(progress)
            if lost:
                problems.append(f"objectives no longer covered: {sorted(lost)}")
            if current < record.current:
                problems.append(f"current went from {record.current} to {current}")
        v.judge("progress-consistent", not problems, "; ".join(problems))

    def _message_shapes(self, ex: Exchange, v: _Verdicts, messages: list[Any]) -> None:
        items = [m for m in messages if isinstance(m, dict)]
        empty = [
            i for i, m in enumerate(items) if m.get("role") == "Assistant" and not str(m.get("text") or "").strip()
        ]
        v.judge("assistant-text-non-empty", not empty, f"assistant message(s) {empty} have no text")
        on_create = ex.operation_id == C
        problems = []
        for i, m in enumerate(items):
            if ("id" in m) != self.profile.message_ids:
                problems.append(f"message {i} {'has' if 'id' in m else 'lacks'} an id")
            wants_feedback = self.profile.message_ids and not on_create
            if ("feedback" in m) != wants_feedback:
                problems.append(f"message {i} {'has' if 'feedback' in m else 'lacks'} feedback")
        v.judge("profile-message-ids", not problems, "; ".join(problems[:3]))

    def _transcript(self, ex: Exchange, v: _Verdicts, body: dict[str, Any], record: ConversationRecord | None) -> None:
        new = _messages(body)
        if new is None:
            return
        prev = record.messages if record is not None else None
        roles = [role for role, _ in new[-2:]]
        grew = len(new) - len(prev) if prev is not None else None
        shape = roles == rules.TURN_ROLES and (grew is None or grew == 2)
        before = f"{len(prev)} messages before, " if prev is not None else ""
        v.judge(
            "transcript-appends-user-and-assistant",
            shape,
            f"{before}{len(new)} after, ending with roles {roles}",
            "the previous transcript plus [User, Assistant]",
        )
        if prev is not None:
            v.judge("earlier-messages-unchanged", new[: len(prev)] == prev, _first_difference(prev, new))
        value = sent_message(ex)
        if isinstance(value, str) and len(new) >= 2:
            text = new[-2][1]
            v.judge(
                "user-text-unchanged",
                text == value,
                f"{_short(text)} came back for {_short(value)}",
                "the user's message, character for character",
            )

    def _show(self, ex: Exchange, v: _Verdicts, body: dict[str, Any], record: ConversationRecord | None) -> None:
        has = "all_objectives_met" in body
        v.judge(
            "profile-show-fields",
            has == (self.profile.name == "ended"),
            f"all_objectives_met {'present' if has else 'absent'}",
        )
        state = body.get("workflow_state")
        closed = self.profile.closed_state
        if record is not None and record.closed_by is not None:
            still_active = state == "active"
            v.judge(self._closure(record), not still_active, f"workflow_state 'active' for conversation {record.id}")
            if still_active:
                return
        ok = state in ("active", closed) and (record is None or record.closed_by is None or state == closed)
        v.judge("profile-closed-state", ok, f"workflow_state {state!r}", f"'active' or {closed!r}")

    # -- what Canvas's answer teaches the ledger ---------------------------------------------------
    def _update_ledger(self, ex: Exchange) -> None:
        op, body = ex.operation_id, ex.json()
        if op is None or self._course_kind(ex.param("course_id")) != "target":
            return
        if ex.identity in (ANONYMOUS, INVALID, "outsider"):
            return
        experience = ex.param("ai_experience_id") or ""
        if self._experience_kind(experience) not in ("main", "other", "unpublished"):
            return
        if op == C and 200 <= ex.status < 300 and isinstance(body, dict):
            cid = _int_id(body.get("id"))
            self.ledger.created(ex.identity, ex.param("course_id") or "", experience, cid)
        elif op == C and ex.status == 503:
            self.ledger.create_failed_after_closing(ex.identity, experience)
        elif op == D and 200 <= ex.status < 300:
            cid = _int_id(ex.param("id"))
            if cid is not None:
                self.ledger.destroyed(cid)
            return
        if 200 <= ex.status < 300 and isinstance(body, dict) and body:
            cid = _int_id(ex.param("id")) if op in (S, P) else _int_id(body.get("id"))
            record = self.ledger.get(cid) if cid is not None else None
            if record is not None and record.experience_id == experience:
                self.ledger.seen(record.id, _messages(body) or [], body.get("progress"))


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _id_values(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" or key.endswith("_id"):
                yield key, item
            else:
                yield from _id_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _id_values(item)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_difference(prev: list[tuple[str, Any]], new: list[tuple[str, Any]]) -> str:
    if len(new) < len(prev):
        return f"the transcript shrank from {len(prev)} to {len(new)} messages"
    for i, (before, after) in enumerate(zip(prev, new, strict=False)):
        if before != after:
            return f"message {i} was {before[0]}: {_short(before[1])}, now {after[0]}: {_short(after[1])}"
    return ""
