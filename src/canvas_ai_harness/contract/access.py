"""Who may see what: the rulebook's checks of Canvas's authorization order and conversation access.

The order is Canvas's (``shared/canvas-facts.md``): token, course, feature flag, membership,
experience, conversation. Which conversation a caller may reach, and what Canvas answers when it
may not, comes from ``canvas.lifecycle.refusal``; the ledger says whose each conversation is and
whether it is closed.
"""

from __future__ import annotations

import json
from typing import Final, Protocol

from canvas_ai_harness.canvas import answers, bodies, lifecycle, routes
from canvas_ai_harness.canvas.requests import sis_course_ref
from canvas_ai_harness.config import Target
from canvas_ai_harness.contract.client import ANONYMOUS, INVALID, Exchange
from canvas_ai_harness.contract.details import ABSENT, Detail, difference
from canvas_ai_harness.contract.ledger import ConversationRecord, Ledger
from canvas_ai_harness.contract.reading import int_id, is_blank_message, sent_message, snippet
from canvas_ai_harness.contract.verdicts import Verdicts
from canvas_ai_harness.errors import AccountsInUse

__all__ = ["MANAGERS", "UNKNOWN_COURSE", "UNKNOWN_EXPERIENCE", "AccessRules", "closure_check"]

A, C, S, P, D = routes.ACTIVE, routes.CREATE, routes.SHOW, routes.POST_MESSAGE, routes.DESTROY
MANAGERS: Final = frozenset({"teacher", "admin"})
# Ids that exist on no Canvas; requests to them must be refused.
UNKNOWN_COURSE: Final = "9223372036854775001"
UNKNOWN_EXPERIENCE: Final = "9223372036854775002"
_LONGEST_ANY_PROFILE_ACCEPTS: Final = min(p.max_message_chars for p in answers.PROFILES.values() if p.max_message_chars)


class Probe(Protocol):
    """Questions the access rules may ask Canvas when an answer may be someone else's doing."""

    def ask_active(self, identity: str, course: str, experience: str) -> int | None:
        """The id Canvas answers as ``identity``'s active conversation."""

    def owns_active(self, identity: str, course: str, experience: str, conversation: int) -> bool:
        """Whether Canvas treats ``conversation`` as ``identity``'s own active one."""


def closure_check(record: ConversationRecord) -> str:
    """The check that owns a closed conversation's rules: the one of what closed it."""
    return "create-closes-previous" if record.closed_by == lifecycle.CLOSED_BY_CREATE else "destroy-closes"


def is_daily_limit(ex: Exchange) -> bool:
    return ex.kind == answers.DAILY_LIMIT


class AccessRules:
    """The authorization order and who may reach which conversation, judged on each exchange."""

    def __init__(self, target: Target, profile: answers.Profile, ledger: Ledger, probe: Probe | None = None) -> None:
        self.target, self.profile, self.ledger = target, profile, ledger
        self._probe = probe

    def _someone_elses(self, ex: Exchange, experience: str, conversation: int) -> bool:
        """Whether ``conversation``, which this run did not create, is really the caller's own active one.

        Then someone else created it on the caller's account (another run, a person): Canvas is
        not at fault. A Canvas that answers a wrong id fails this, and its check fires instead.
        """
        if self._probe is None or self.ledger.get(conversation) is not None:
            return False
        return self._probe.owns_active(ex.identity, ex.param("course_id") or "", experience, conversation)

    def _clash(self, identity: str, conversation: int, how: str) -> AccountsInUse:
        return AccountsInUse(
            f"another run or user is using these accounts: Canvas {how} conversation {conversation}, which this "
            f"run did not create, as {self.target.tokens.key(identity)}'s active one; run the contract suite alone "
            "on its accounts"
        )

    def course_kind(self, ref: str | None) -> str | None:
        t = self.target
        if ref is None:
            return None
        if ref == t.course_id or (t.course_sis_id is not None and ref == sis_course_ref(t.course_sis_id)):
            return "target"
        if ref == t.feature_disabled_course_id:
            return "flag-off"
        return "unknown" if ref == UNKNOWN_COURSE else None

    def experience_kind(self, ref: str | None) -> str | None:
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

    def judge(self, ex: Exchange, v: Verdicts) -> None:
        op = ex.operation_id
        course = self.course_kind(ex.param("course_id"))
        if ex.identity == INVALID:
            v.expect("invalid-token-401", ex, (401,), bodies.INVALID_TOKEN, www=True)
            return
        if course == "unknown":
            v.expect("unknown-course-404", ex, (404,), bodies.ROUTE_NOT_FOUND)
            return
        if course == "flag-off":
            v.expect("feature-flag-off-404", ex, (404,), bodies.NOT_FOUND)
            return
        if course != "target":
            return
        if self.target.course_sis_id is not None and ex.param("course_id") == sis_course_ref(self.target.course_sis_id):
            found = not (ex.status == 404 and ex.json() == bodies.ROUTE_NOT_FOUND)
            v.status("sis-course-id-same-course", ex, found, "the same answer as by id", "not the routing 404")
        if ex.identity == ANONYMOUS:
            v.expect("no-token-401", ex, (401,), bodies.UNAUTHENTICATED, www=True)
            return
        if ex.identity == "outsider":
            www = ex.status == 401  # older sites answer non-members 401, which always carries the header
            v.expect("outsider-403", ex, (403, 401), bodies.FORBIDDEN, www=www)
            return
        kind = self.experience_kind(ex.param("ai_experience_id"))
        refused = {"unknown": "unknown-experience-404", "deleted": "deleted-experience-404"}
        refused["other-course"] = "other-course-experience-404"
        if kind in refused:
            v.expect(refused[kind], ex, (404,), bodies.NOT_FOUND)
            return
        if kind is None:
            return
        if kind == "unpublished" and op in (A, C):
            v.status("unpublished-experience-allowed", ex, ex.status != 404, wanted="not 404")
        experience = ex.param("ai_experience_id") or ""
        if op == A:
            self._active(ex, v, experience)
        elif op == C:
            ok = ex.status in (201, 503) or is_daily_limit(ex)
            v.status("create-answers-201", ex, ok, wanted="201 (503 when the AI service fails)")
        else:
            self._conversation(ex, v, experience)

    def _active(self, ex: Exchange, v: Verdicts, experience: str) -> None:
        if ex.status != 200 or not self.ledger.knows_active(ex.identity, experience):
            return
        body = ex.json()
        got_id = int_id(body.get("id")) if isinstance(body, dict) else None
        expected = self.ledger.active_id(ex.identity, experience)
        got = f"200 {snippet(ex)}"
        if got_id is not None and self._someone_elses(ex, experience, got_id):
            raise self._clash(ex.identity, got_id, "answered")
        if expected is None:
            v.judge("active-empty-after-end", body == {}, got, "200 {}", difference({}, body))
        else:
            own = Detail("$.id", expected, body.get("id", ABSENT) if isinstance(body, dict) else ABSENT)
            v.judge("active-returns-own-active", got_id == expected, got, f"200 with id {expected}", own)
        record = self.ledger.get(got_id) if got_id is not None else None
        stale = record is not None and record.closed_by is not None
        cause = record.closed_by if stale and record else self.ledger.last_closure(ex.identity, experience)
        if cause is not None:
            name = "create-closes-previous" if cause == lifecycle.CLOSED_BY_CREATE else "destroy-closes"
            closed = Detail("$.id", f"not {got_id}: it was closed by a {cause}", got_id, described=True)
            v.judge(name, not stale, f"{got} (conversation {got_id} was closed by a {cause})", detail=closed)

    def _conversation(self, ex: Exchange, v: Verdicts, experience: str) -> None:
        op, status = ex.operation_id or "", ex.status
        blank = is_blank_message(sent_message(ex)) if op == P else None
        if blank and 200 <= status < 300:
            v.status("blank-message-400", ex, False, f"400 {json.dumps(bodies.BLANK_MESSAGE)}", "400")
        cid = int_id(ex.param("id"))
        record = self.ledger.get(cid) if cid is not None else None
        if record is None:
            return
        manager, own = ex.identity in MANAGERS, record.owner == ex.identity
        refused = lifecycle.refusal(
            op, same_experience=record.experience_id == experience, manager=manager, own=own, active=record.active
        )
        if record.experience_id != experience:
            name = "other-experience-conversation-404"
        elif manager:
            reached = refused is None and status not in (403, 404)
            v.status("teacher-reaches-any-conversation", ex, reached, wanted="not 403 or 404")
            if op == P:
                self._message(ex, v)
            return
        elif not own:
            name = "another-students-conversation-404"
        elif record.closed_by is not None:
            self._closed(ex, v, record, refused)
            return
        elif status == 404 and op in (P, D):
            self._closed_by_someone_else(ex, record)
        elif op == S:
            name = "show-by-student-403"
        elif op == D:
            v.status("destroy-closes", ex, status == 200, "200: the caller's own active conversation is closed", "200")
            return
        else:
            self._message(ex, v)
            return
        if refused is not None:
            v.expect(name, ex, (refused.status,), refused.body)
        else:
            v.status(name, ex, status < 400, "the conversation", "below 400")

    def _closed_by_someone_else(self, ex: Exchange, record: ConversationRecord) -> None:
        """The caller's own active conversation is out of its reach: ask Canvas whether someone replaced it."""
        if self._probe is None:
            return
        active = self._probe.ask_active(ex.identity, ex.param("course_id") or "", record.experience_id)
        if active is not None and active != record.id and self._someone_elses(ex, record.experience_id, active):
            raise self._clash(ex.identity, active, f"refused conversation {record.id} and answers")

    def _closed(self, ex: Exchange, v: Verdicts, record: ConversationRecord, refused: lifecycle.Refusal | None) -> None:
        """The caller's own conversation, which Canvas closed: what Canvas answers about it."""
        note = f" (conversation {record.id} was closed by a {record.closed_by})"
        if refused is None:
            ok = v.status("closed-conversation-404", ex, ex.status < 400, "the conversation", "below 400")
        else:
            ok = v.expect("closed-conversation-404", ex, (refused.status,), refused.body, note=note)
            v.expect(closure_check(record), ex, (refused.status,), refused.body, note=note)
        if ok:
            self.ledger.confirmed_closed(record.id)

    def _message(self, ex: Exchange, v: Verdicts) -> None:
        """post_message to a conversation the caller may reach: the message decides the answer."""
        value = sent_message(ex)
        blank = is_blank_message(value)
        accepted = ex.status in (200, 503) or is_daily_limit(ex)
        if blank:
            v.expect("blank-message-400", ex, (400,), bodies.BLANK_MESSAGE)
        elif blank is False and isinstance(value, str):
            limit = self.profile.max_message_chars
            if limit is not None and len(value) > limit:
                v.expect("profile-message-limit", ex, (422,), self.profile.too_long)
            elif len(value) > _LONGEST_ANY_PROFILE_ACCEPTS:
                v.status("profile-message-limit", ex, accepted, f"200 for a {len(value)}-character message", "200")
            else:
                v.status("non-blank-message-accepted", ex, accepted, "200 with the whole transcript", "200")
