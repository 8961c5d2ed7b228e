"""What a successful answer's body must hold: ids, progress, message shapes, the transcript, show's fields.

The transcript's rules (a new transcript, one turn, earlier messages, where the AI service's id
may appear) come from ``canvas.transcript``; this module names each problem by its check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from canvas_ai_harness.canvas import answers, bodies, routes, transcript
from canvas_ai_harness.contract.access import closure_check
from canvas_ai_harness.contract.client import Exchange
from canvas_ai_harness.contract.details import ABSENT, Detail, difference, json_path, value_at
from canvas_ai_harness.contract.ledger import ConversationRecord, Ledger, covered_objectives
from canvas_ai_harness.contract.reading import int_id, sent_message, snippet
from canvas_ai_harness.contract.verdicts import Verdicts

__all__ = ["TRANSCRIPT_CHECKS", "BodyRules"]

# Each rule of canvas.transcript, and the check that reports it.
TRANSCRIPT_CHECKS: Final = {
    transcript.NO_AI_ID: "llm-id-not-leaked",
    transcript.NEW_TRANSCRIPT: "new-transcript-user-assistant",
    transcript.TURN_APPENDS: "transcript-appends-user-and-assistant",
    transcript.EARLIER_UNCHANGED: "earlier-messages-unchanged",
    transcript.USER_TEXT: "user-text-unchanged",
}


class BodyRules:
    """Judges the body of a 2xx answer, with what the ledger knows of its conversation."""

    def __init__(self, profile: answers.Profile, ledger: Ledger) -> None:
        self.profile, self.ledger = profile, ledger

    def judge(self, ex: Exchange, v: Verdicts, body: dict[str, Any]) -> None:
        op = ex.operation_id or ""
        record = self.ledger.get(int_id(ex.param("id")) or int_id(body.get("id")) or -1)
        sent = sent_message(ex) if op == routes.POST_MESSAGE else None
        previous = record.messages if record is not None else None
        found = transcript.check(
            op, body, previous=previous, sent=sent if isinstance(sent, str) else None, redact=ex.redact
        )
        self._transcript(v, body, found, transcript.NO_AI_ID)
        if op == routes.DESTROY:
            expected = {"message": self.profile.destroy_message}
            v.judge(
                "profile-destroy-message",
                body == expected,
                snippet(ex),
                json.dumps(expected),
                difference(expected, body),
            )
            return
        if not body:
            return  # active's {}: judged by the access rules
        self._ids(ex, v, body)
        self._progress(v, body, record)
        messages = body.get("messages")
        if isinstance(messages, list):
            self._message_shapes(ex, v, messages)
        for rule in TRANSCRIPT_CHECKS:
            if rule != transcript.NO_AI_ID:
                self._transcript(v, body, found, rule)
        if op == routes.SHOW:
            self._show(v, body, record)

    @staticmethod
    def _transcript(v: Verdicts, body: dict[str, Any], found: dict[str, transcript.Problem | None], rule: str) -> None:
        if rule not in found:
            return  # the rule does not apply to this answer
        problem = found[rule]
        if problem is None:
            v.judge(TRANSCRIPT_CHECKS[rule], True)
            return
        detail = None
        if rule == transcript.NO_AI_ID:  # the place and the value, not the body's first characters
            detail = Detail(problem.path, ABSENT, value_at(body, problem.path))
        elif problem.path:
            detail = Detail(problem.path, problem.expected_value, problem.got_value)
        v.judge(TRANSCRIPT_CHECKS[rule], False, problem.detail, problem.expected, detail)

    def _ids(self, ex: Exchange, v: Verdicts, body: dict[str, Any]) -> None:
        if ex.string_ids:
            bad = [(where, value) for where, value in _id_values(body) if not isinstance(value, str | None)]
            ok = bodies.stringify_ids(body) == body
            keys = ", ".join(sorted({str(where[-1]) for where, _ in bad}))
            first = (
                Detail(json_path(bad[0][0]), str(bad[0][1]), bad[0][1])
                if bad
                else difference(bodies.stringify_ids(body), body)
            )
            v.judge("string-ids-on-request", ok, f"integer ids under {keys}: {snippet(ex)}", detail=first)
            return
        nested = {k: value for k, value in body.items() if k != "id"}
        bad = [(where, value) for where, value in _id_values(nested) if where[-1] == "id" and not _is_int(value)]
        top = body.get("id")
        if "id" in body and not _is_int(top) and not (ex.operation_id == routes.CREATE and top is None):
            bad.insert(0, (("id",), top))  # create's id is null when the AI service returned none
        shown = ", ".join(repr(value) for _, value in bad[:3])
        detail = Detail(json_path(bad[0][0]), "an integer", bad[0][1], described=True) if bad else None
        v.judge("integer-ids", not bad, f"non-integer id values {shown}: {snippet(ex)}", detail=detail)

    def _progress(self, v: Verdicts, body: dict[str, Any], record: ConversationRecord | None) -> None:
        progress = body.get("progress")
        if not isinstance(progress, dict):
            return  # null is allowed; a missing key is the schema's business
        current, total, pct = progress.get("current"), progress.get("total"), progress.get("percentage")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (current, total, pct)):
            return  # the schema check reports it
        assert isinstance(current, int) and isinstance(total, int)
        problems: list[tuple[str, Detail]] = []
        if current > total:
            problems.append(
                (f"current {current} > total {total}", Detail("$.progress.current", f"<= {total}", current, True))
            )
        if pct != bodies.percentage(current, total):
            want = bodies.percentage(current, total)
            problems.append(
                (f"percentage {pct}, expected {want} for {current}/{total}", Detail("$.progress.percentage", want, pct))
            )
        if record is not None:
            lost = record.covered - covered_objectives(progress)
            if lost:
                problems.append(
                    (
                        f"objectives no longer covered: {sorted(lost)}",
                        Detail(
                            "$.progress.objectives", f"still covered: {sorted(lost)}", progress.get("objectives"), True
                        ),
                    )
                )
            if current < record.current:
                problems.append(
                    (
                        f"current went from {record.current} to {current}",
                        Detail("$.progress.current", f">= {record.current}, as before", current, True),
                    )
                )
        v.judge(
            "progress-consistent",
            not problems,
            "; ".join(text for text, _ in problems),
            detail=problems[0][1] if problems else None,
        )

    def _message_shapes(self, ex: Exchange, v: Verdicts, messages: list[Any]) -> None:
        items = [(i, m) for i, m in enumerate(messages) if isinstance(m, dict)]
        empty = [i for i, m in items if m.get("role") == "Assistant" and not str(m.get("text") or "").strip()]
        v.judge(
            "assistant-text-non-empty",
            not empty,
            f"assistant message(s) {empty} have no text",
            detail=Detail(
                f"$.messages[{empty[0]}].text", "a non-empty text", messages[empty[0]].get("text", ABSENT), True
            )
            if empty
            else None,
        )
        on_create = ex.operation_id == routes.CREATE
        problems: list[tuple[str, Detail]] = []
        for i, m in items:
            if ("id" in m) != self.profile.message_ids:
                has = "id" in m
                want = "an id" if self.profile.message_ids else "no id"
                problems.append((f"message {i} {'has' if has else 'lacks'} an id", _field(i, "id", want, m)))
            wants_feedback = self.profile.message_ids and not on_create
            if ("feedback" in m) != wants_feedback:
                has = "feedback" in m
                want = "[]" if wants_feedback else "no feedback"
                problems.append((f"message {i} {'has' if has else 'lacks'} feedback", _field(i, "feedback", want, m)))
        v.judge(
            "profile-message-ids",
            not problems,
            "; ".join(text for text, _ in problems[:3]),
            detail=problems[0][1] if problems else None,
        )

    def _show(self, v: Verdicts, body: dict[str, Any], record: ConversationRecord | None) -> None:
        has = "all_objectives_met" in body
        want = "present" if self.profile.show_objectives_met else "absent"
        v.judge(
            "profile-show-fields",
            has == self.profile.show_objectives_met,
            f"all_objectives_met {'present' if has else 'absent'}",
            detail=Detail(
                "$.all_objectives_met",
                f"{want} (profile {self.profile.name})",
                body.get("all_objectives_met", ABSENT),
                True,
            ),
        )
        state = body.get("workflow_state", ABSENT)
        closed = self.profile.closed_state
        if record is not None and record.closed_by is not None:
            still_active = state == "active"
            v.judge(
                closure_check(record),
                not still_active,
                f"workflow_state 'active' for conversation {record.id}",
                detail=Detail("$.workflow_state", closed, state),
            )
            if still_active:
                return
        ok = state in ("active", closed) and (record is None or record.closed_by is None or state == closed)
        expected = f"'active' or {closed!r}" if record is None or record.closed_by is None else repr(closed)
        v.judge(
            "profile-closed-state",
            ok,
            f"workflow_state {state!r}",
            f"'active' or {closed!r}",
            Detail("$.workflow_state", expected, state, True),
        )


def _field(index: int, name: str, want: str, message: dict[str, Any]) -> Detail:
    return Detail(f"$.messages[{index}].{name}", want, message.get(name, ABSENT), True)


def _id_values(value: Any, where: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every id-named key's value in ``value``, with its path (``("messages", 0, "id")``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if bodies.is_id_key(key):
                yield (*where, key), item
            else:
                yield from _id_values(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _id_values(item, (*where, i))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
