"""The contract checks: each a named object quoting the Canvas rule it enforces.

A check never re-types a rule's data: expected bodies come from ``canvas/`` and shapes from
``specs/openapi.yaml``. What a check keeps is its *name* (what reports, JUnit and the fault tests
refer to), the *rule* it enforces, quoted from ``shared/canvas-facts.md`` or the spec, the
*operations* it applies to, and the optional target-file fields it *needs*. A failure is a
``ContractViolation``: "expected (the rule), got (what Canvas did)", where in the answer
(``details.Detail``: the JSON path and both values), the exchange, and a ``curl`` line that
reproduces it with the token redacted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from canvas_ai_harness.contract.details import Detail, excerpt, needle, shown
from canvas_ai_harness.htmlreport import around

__all__ = ["ALL_OPERATIONS", "CHECKS", "UNROUTED", "Check", "ContractViolation", "Finding", "check", "where"]

ACTIVE, CREATE, SHOW, POST, DESTROY = (
    "getActiveConversation",
    "createConversation",
    "getConversation",
    "postMessage",
    "deleteConversation",
)
ALL_OPERATIONS: Final = (ACTIVE, CREATE, SHOW, POST, DESTROY)
_EXCERPT: Final = 1500  # characters of an answer shown around one finding's difference
_KEPT: Final = 20_000  # characters of a failing exchange's bodies the JSON report keeps
UNROUTED: Final = "(unrouted)"  # requests that match no operation: unknown routes and methods
_COLLECTION: Final = (ACTIVE, CREATE)
_BODIES: Final = (ACTIVE, CREATE, SHOW, POST)  # operations that answer with a conversation


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of the contract, as the suite enforces it."""

    name: str
    rule: str
    operations: tuple[str, ...] = ALL_OPERATIONS
    needs: tuple[str, ...] = ()  # target-file fields without which it cannot run


@dataclass(frozen=True, slots=True)
class Finding:
    """One check that failed on one exchange: what was expected, what happened, and where."""

    check: Check
    got: str
    expected: str = ""  # the specific expectation, when the rule alone is not enough
    detail: Detail | None = None  # the JSON path (or status, header) and the two values

    def describe(self, redact: Callable[[str], str] = str) -> str:
        expected = f"{self.expected} ({self.check.rule})" if self.expected else self.check.rule
        lines = [f"[{self.check.name}] expected: {expected}", f"    got: {self.got}"]
        if self.detail is not None:
            lines.append(f"    at {where(shown(self.detail, redact))}")
        return "\n".join(lines)

    def to_dict(self, redact: Callable[[str], str] = str) -> dict[str, Any]:
        found: dict[str, Any] = {
            "check": self.check.name,
            "rule": self.check.rule,
            "expected": self.expected or self.check.rule,
            "got": self.got,
            "path": None,
            "expected_value": None,
            "got_value": None,
            "difference_at": None,
            "needle": None,
        }
        if self.detail is not None:
            found.update(shown(self.detail, redact), needle=needle(self.detail, redact))
        return found


def where(detail: dict[str, Any]) -> str:
    """A shown detail in one line: ``$.x: expected 1, got 2 (first difference at character 7)``."""
    at = detail.get("difference_at")
    tail = f" (first difference at character {at})" if at is not None else ""
    return f"{detail['path']}: expected {detail['expected_value']}, got {detail['got_value']}{tail}"


class ContractViolation(AssertionError):
    """The target broke one or more checks on one exchange (an ``AssertionError`` for pytest)."""

    def __init__(
        self, findings: Iterable[Finding], operation: str | None, reproduce: str, request: str, exchange: Any = None
    ) -> None:
        self.findings = tuple(findings)
        self.operation = operation
        self.reproduce = reproduce
        self.request = request
        self.exchange = exchange  # the client's Exchange, for callers that still need the answer
        self.redact: Callable[[str], str] = getattr(exchange, "redact", str)
        super().__init__(self.render())

    @property
    def check_names(self) -> list[str]:
        return [f.check.name for f in self.findings]

    def render(self) -> str:
        prefix = f"{self.operation}: " if self.operation else ""
        lines = [f"{prefix}{self.request}"]
        lines += [f"  {f.describe(self.redact)}" for f in self.findings]
        lines.append(f"  reproduce: {self.reproduce}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        findings = [f.to_dict(self.redact) for f in self.findings]
        record = None
        if self.exchange is not None:
            record = self.exchange.record()
            body, sent = record["response"]["body"], record["request"]["body"]
            for finding, found in zip(self.findings, findings, strict=True):
                # each finding's own view of the exchange, never cut before its difference
                found["response_excerpt"] = excerpt(body, finding.detail, self.redact, _EXCERPT)
                found["request_excerpt"] = excerpt(sent, finding.detail, self.redact, _EXCERPT, sent=True)
            first = next((f["needle"] for f in findings if f["needle"]), None)
            record["response"]["body"] = around(body, first, _KEPT)
            record["request"]["body"] = around(record["request"]["body"], None, _KEPT)
        return {
            "operation": self.operation,
            "request": self.request,
            "findings": findings,
            "reproduce": self.reproduce,
            "exchange": record,
        }


@dataclass(slots=True)
class _Catalogue:
    checks: dict[str, Check] = field(default_factory=dict)

    def add(
        self, name: str, rule: str, operations: tuple[str, ...] = ALL_OPERATIONS, needs: tuple[str, ...] = ()
    ) -> Check:
        if name in self.checks:
            raise ValueError(f"check {name!r} is defined twice")
        self.checks[name] = Check(name, rule, operations, needs)
        return self.checks[name]


_catalogue = _Catalogue()
_add = _catalogue.add

# -- the spec, operation by operation (specs/openapi.yaml) ---------------------------------------
_add("status-code-declared", "every status code an operation answers is one the spec declares for it")
_add("content-type-declared", "each response has a content type the spec declares for its status")
_add(
    "headers-conform",
    "declared response headers are present and well-formed (WWW-Authenticate on every 401; "
    "X-Request-Cost and X-Rate-Limit-Remaining are floats as strings)",
)
_add(
    "body-matches-schema",
    "each body matches the schema the spec declares for its status; objects are closed, so an undeclared "
    "field is a break",
)
_add(
    "no-server-error",
    'no 5xx, except 503 with Canvas\'s body {"error": ...} when the AI service fails (destroy never calls it)',
    (*ALL_OPERATIONS, UNROUTED),
)
_add(
    "negative-data-rejected",
    "a request that violates the spec is refused with a 4xx (Canvas quirk, not a break: a JSON number is "
    "accepted as a message)",
)
_add(
    "unrouted-request-404",
    'unknown routes and unsupported methods on these paths: 404 {"errors": [{"message": "The specified resource '
    'does not exist."}]} (Rails routing; a 405 is also accepted)',
    (UNROUTED,),
)
# -- Canvas's conversation rules (canvas-facts.md) -----------------------------------------------
_add("create-answers-201", "create answers 201 {id, messages, progress}", (CREATE,))
_add(
    "create-closes-previous",
    "a user has at most one active conversation per experience: create first closes the caller's active one",
    (ACTIVE, SHOW, POST, DESTROY),
)
_add(
    "active-returns-own-active",
    "active_conversation returns the caller's own active conversation only",
    (ACTIVE,),
)
_add(
    "active-empty-after-end",
    "active_conversation answers 200 {} when the caller has no active one, e.g. after the end",
    (ACTIVE,),
)
_add(
    "destroy-closes",
    "destroy does not delete: it marks the conversation completed (a teacher can still show it)",
    (DESTROY, ACTIVE, SHOW, POST),
)
_add(
    "closed-conversation-404",
    "a student's own completed conversation is out of its reach for post_message, destroy and show: Canvas "
    "answers as for another student's (canvas.lifecycle.refusal says what)",
    (POST, DESTROY, SHOW),
)
_add(
    "transcript-appends-user-and-assistant",
    "each successful post_message returns the whole transcript with exactly two messages appended: the user's "
    "text, then the assistant's reply",
    (POST,),
)
_add(
    "new-transcript-user-assistant",
    "a new conversation's transcript is [User, Assistant]: the hidden prompt, then the first question",
    (CREATE,),
)
_add(
    "earlier-messages-unchanged",
    "messages is the whole transcript, oldest first, every time; earlier messages are unchanged",
    (POST, ACTIVE, SHOW),
)
_add(
    "user-text-unchanged",
    "the user's text (unicode, long, form-encoded or JSON) comes back unchanged in the transcript",
    (POST,),
)
_add("assistant-text-non-empty", "the assistant's text is non-empty", _BODIES)
_add(
    "blank-message-400",
    'missing, empty or whitespace-only message: 400 {"error": "message is required"} (the visibility 404 comes first)',
    (POST,),
)
_add(
    "non-blank-message-accepted",
    "message may arrive as JSON, as a form field or in the query string (Canvas merges them); a non-blank "
    "message to a conversation the caller may reach is accepted",
    (POST,),
)
_add(
    "llm-id-not-leaked",
    "the AI service's conversation id (llm_conversation_id) is never in create, active or post_message "
    "responses; only show exposes it",
    (CREATE, ACTIVE, POST),
)
_add(
    "integer-ids",
    "ids are integers (create's id may be null) unless Accept: application/json+canvas-string-ids asks for strings",
    _BODIES,
)
_add(
    "string-ids-on-request",
    "Accept: application/json+canvas-string-ids turns every integer value of a key named id or ending in _id "
    "into a string, recursively",
    _BODIES,
)
_add(
    "sis-course-id-same-course",
    ":course_id also accepts sis_course_id:<sis id>, which reaches the same course",
    needs=("course_sis_id",),
)
_add(
    "progress-consistent",
    "progress is {current, total, percentage, objectives} or null: percentage = round(100*current/total) (0 when "
    "total is 0), current <= total, and covered objectives never decrease",
    _BODIES,
)
# -- who may see what (canvas-facts.md, "Visibility and authorization") --------------------------
_add(
    "another-students-conversation-404",
    'non-teachers reach only their own active conversations; another student\'s is 404 {"error": "Resource Not Found"}',
    (SHOW, POST, DESTROY),
    needs=("tokens.other_student",),
)
_add(
    "show-by-student-403",
    'show: a non-teacher on their own active conversation gets 403 {"status": "unauthorized", ...}',
    (SHOW,),
)
_add(
    "teacher-reaches-any-conversation",
    "teachers may reach any conversation of the experience, in any state",
    (SHOW, POST, DESTROY),
    needs=("tokens.teacher",),
)
_add(
    "outsider-403",
    'a logged-in user who is not a member of the course: 403 {"status": "unauthorized", ...} (older sites: 401 '
    "with the same body)",
    needs=("tokens.outsider",),
)
_add(
    "no-token-401",
    'no token at all: 401 {"status": "unauthenticated", ...} with WWW-Authenticate: Bearer realm="canvas-lms"',
)
_add(
    "invalid-token-401",
    'an invalid token: 401 {"errors": [{"message": "Invalid access token."}]} with WWW-Authenticate',
)
_add(
    "unknown-course-404",
    'an unknown or deleted course: 404 {"errors": [{"message": "The specified resource does not exist."}]}',
)
_add(
    "feature-flag-off-404",
    'a course with the ai_experiences flag off: 404 {"error": "Resource Not Found"}, even without a token',
    needs=("feature_disabled_course_id", "feature_disabled_ai_experience_id"),
)
_add("unknown-experience-404", 'an unknown experience: 404 {"error": "Resource Not Found"}')
_add(
    "deleted-experience-404",
    'a deleted experience: 404 {"error": "Resource Not Found"}',
    needs=("deleted_ai_experience_id",),
)
_add(
    "other-course-experience-404",
    'an experience of another course: 404 {"error": "Resource Not Found"}',
    needs=("other_course_ai_experience_id",),
)
_add(
    "other-experience-conversation-404",
    'a conversation of another experience: 404 {"error": "Resource Not Found"}, for teachers too',
    (SHOW, POST, DESTROY),
    needs=("other_ai_experience_id",),
)
_add(
    "unpublished-experience-allowed",
    "an unpublished experience is not refused by these routes",
    _COLLECTION,
    needs=("unpublished_ai_experience_id",),
)
# -- Canvas-wide conventions the spec does not declare (canvas-facts.md; contract/conventions.py) ---
_add(
    "access-token-parameter",
    "the token may arrive as an access_token query or form parameter instead of Authorization: Bearer: "
    "Canvas answers as it does to the header",
    (ACTIVE, SHOW, POST),
)
_add(
    "trailing-json-accepted",
    "a trailing .json on the path is accepted: the same answer as without it, never Rails's routing 404",
    (ACTIVE, SHOW, POST),
)
_add(
    "masquerade-acts-as-user",
    "a token of a user who may become other users, plus as_user_id=<id>, acts as that user",
    (ACTIVE, SHOW),
    needs=("tokens.admin",),
)
_add(
    "invalid-as-user-id-401",
    'a bad as_user_id (no such user, or a caller who may not become them): 401 {"errors": "Invalid as_user_id"} '
    "(a string, not a list)",
    _COLLECTION,
)
# -- profiles (canvas-facts.md, the profile table) -----------------------------------------------
_add(
    "profile-destroy-message",
    'destroy answers {"message": "Conversation completed successfully"} (profile ended: "Conversation ended '
    'successfully")',
    (DESTROY,),
)
_add(
    "profile-closed-state",
    "the state after destroy or a new create is completed (profile ended: ended)",
    (SHOW,),
    needs=("tokens.teacher",),
)
_add(
    "profile-message-ids",
    'messages are {role, text} (profile ended: {id, role, text}, plus "feedback": [] except on create)',
    _BODIES,
)
_add(
    "profile-message-limit",
    'a message over 4000 characters is accepted (profile ended: 422 {"error": "message must be 4000 '
    'characters or fewer"})',
    (POST,),
)
_add(
    "profile-show-fields",
    'show adds "all_objectives_met" in profile ended only',
    (SHOW,),
    needs=("tokens.teacher",),
)

CHECKS: Final[dict[str, Check]] = _catalogue.checks


def check(name: str) -> Check:
    """The check called ``name``; a ``KeyError`` names the known ones."""
    try:
        return CHECKS[name]
    except KeyError:
        raise KeyError(f"unknown check {name!r}; known: {', '.join(sorted(CHECKS))}") from None
