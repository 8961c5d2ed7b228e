"""Compare two snapshots: every difference, per route and scenario, classified for a client.

``compare(before, after)`` returns a ``Comparison``. Each ``Difference`` is

- **breaking** for a client: a status or content type changed, a header or field removed, a field
  retyped, a stable value (an error body, a state name, a role, the end message) or a count (the
  messages a turn adds) changed, a rule that held no longer holds;
- **additive**: a new header or field, a rule that now holds, a refused input now accepted where
  the refusal was a limit (a step tagged ``over-limit``).

A step one side could not observe (the AI service failed, the daily limit, throttling, the budget)
is not compared, and the comparison is incomplete: never a pass, since what followed it may differ
because of it.

When the two snapshots detected different profiles (``completed`` → ``ended``), the profile change
is one breaking difference, and each difference the profile table explains (``canvas.answers.PROFILES``,
the spec's table of profiles) is grouped under its row instead of counted on its own. The rows the
script cannot exercise (the daily limits, a failing AI service) are named as known but not seen.

An allow file (``allow.py``) marks differences as accepted: they are listed, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from canvas_ai_harness.canvas import answers
from canvas_ai_harness.snapshot.script import OVER_LIMIT

__all__ = ["ADDITIVE", "BREAKING", "PROFILE_ROWS", "Comparison", "Difference", "compare"]

BREAKING: Final = "breaking"
ADDITIVE: Final = "additive"
ABSENT: Final = "absent"
PROFILE_ID: Final = "profile"  # the id of a profile change, for an allow file

# The spec's table of profiles, row by row, with the ``Profile`` field each row is about.
STATE_ROW: Final = "state after DELETE / after a new create"
DELETE_ROW: Final = "DELETE body"
LONG_ROW: Final = "message longer than 4000 characters"
DAILY_ROW: Final = "per-user daily limits (create 100, post_message 1000)"
UNAVAILABLE_ROW: Final = "503 body (AI service failure)"
SHOW_ROW: Final = "show body adds all_objectives_met"
MESSAGES_ROW: Final = "messages carry an id, and feedback except on create"
PROFILE_ROWS: Final = {
    STATE_ROW: ("closed_state",),
    DELETE_ROW: ("destroy_message",),
    LONG_ROW: ("max_message_chars",),
    DAILY_ROW: ("daily_create_limit", "daily_message_limit"),
    UNAVAILABLE_ROW: ("rich_errors",),
    SHOW_ROW: ("show_objectives_met",),
    MESSAGES_ROW: ("message_ids",),
}
# Answers that say nothing about the contract: the step was not observed on that side.
UNOBSERVABLE: Final = {
    answers.AI_UNAVAILABLE: "Canvas's AI service failed (503)",
    answers.DAILY_LIMIT: "the identity hit Canvas's daily AI limit (429 rate_limited)",
    answers.THROTTLED: "Canvas kept throttling",
}
# What a snapshot cannot see: it never spends a day's allowance, and a faithful AI service never fails.
NOT_EXERCISED: Final = (DAILY_ROW, UNAVAILABLE_ROW)


@dataclass(slots=True)
class Difference:
    """One difference between two answers to the same step."""

    step: str  # route/scenario
    aspect: str  # status, content_type, body, header, header_value, shape, value, count, rule, step
    path: str  # a JSON path, header or rule name; "" for the whole answer
    before: Any
    after: Any
    kind: str  # breaking or additive
    what: str  # "field removed", "status changed"...
    row: str | None = None  # the profile-table row that explains it
    allowed: str | None = None  # the allow file's reason

    @property
    def id(self) -> str:
        """``route/scenario:aspect[:path]``: what an allow file matches."""
        return f"{self.step}:{self.aspect}:{self.path}" if self.path else f"{self.step}:{self.aspect}"

    @property
    def counted(self) -> bool:
        return self.kind == BREAKING and self.row is None and self.allowed is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step,
            "aspect": self.aspect,
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "kind": self.kind,
            "what": self.what,
            "profile_row": self.row,
            "allowed": self.allowed,
        }


@dataclass(slots=True)
class ProfileChange:
    before: str
    after: str
    rows: dict[str, list[Difference]] = field(default_factory=dict)  # every row the profiles differ in
    allowed: str | None = None

    @property
    def id(self) -> str:
        return PROFILE_ID

    def not_seen(self) -> list[str]:
        return [row for row, found in self.rows.items() if not found]


@dataclass(slots=True)
class Comparison:
    """Everything ``diff`` found between two snapshots."""

    before: dict[str, Any]
    after: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)
    profile_change: ProfileChange | None = None
    not_compared: list[tuple[str, str]] = field(default_factory=list)  # (step, why)
    unobserved: list[str] = field(default_factory=list)  # steps one side could not observe: never a pass
    unused_allowances: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> list[Difference]:
        return [d for d in self.differences if d.counted]

    @property
    def additive(self) -> list[Difference]:
        return [d for d in self.differences if d.kind == ADDITIVE and d.row is None and d.allowed is None]

    @property
    def allowed(self) -> list[Difference]:
        return [d for d in self.differences if d.allowed is not None and d.row is None]

    @property
    def breaks(self) -> int:
        """How many breaking differences count against the target (the profile change is one)."""
        change = self.profile_change
        return len(self.breaking) + (1 if change is not None and change.allowed is None else 0)


def compare(before: dict[str, Any], after: dict[str, Any]) -> Comparison:
    """Every difference between two snapshot documents, classified, profile rows grouped."""
    result = Comparison(before, after)
    steps_before, steps_after = before["steps"], after["steps"]
    for key in list(steps_before) + [k for k in steps_after if k not in steps_before]:
        one, two = steps_before.get(key), steps_after.get(key)
        if one is None or two is None:
            side = "before" if one is not None else "after"
            result.not_compared.append((key, f"reached on the {side} side only (an earlier answer differed)"))
            result.unobserved.append(key)
            continue
        if "skipped" in one or "skipped" in two:
            why = one.get("skipped") or two.get("skipped")
            result.not_compared.append((key, f"not run on the {'before' if 'skipped' in one else 'after'} side: {why}"))
            if one.get("incomplete") or two.get("incomplete"):
                result.unobserved.append(key)
            continue
        kinds = one.get("kind"), two.get("kind")
        if kinds[0] in UNOBSERVABLE or kinds[1] in UNOBSERVABLE:  # on both sides alike too: nothing was seen
            side, kind = ("before", kinds[0]) if kinds[0] in UNOBSERVABLE else ("after", kinds[1])
            result.not_compared.append((key, f"{UNOBSERVABLE[kind]} on the {side} side; take that snapshot again"))
            result.unobserved.append(key)
            continue
        result.differences += _step_differences(key, one, two)
    _group_by_profile(result)
    return result


def _step_differences(key: str, one: dict[str, Any], two: dict[str, Any]) -> list[Difference]:
    a, b = one["answer"], two["answer"]
    found: list[Difference] = []

    def add(aspect: str, path: str, was: Any, now: Any, kind: str, what: str) -> None:
        found.append(Difference(key, aspect, path, was, now, kind, what))

    if a["status"] != b["status"]:
        accepted_now = a["status"] >= 400 and 200 <= b["status"] < 300 and OVER_LIMIT in two.get("tags", [])
        kind = ADDITIVE if accepted_now else BREAKING
        add("status", "", _summary(a), _summary(b), kind, "input now accepted" if accepted_now else "status changed")
        return found  # the body of another status is another answer: its details would only repeat this
    if a["content_type"] != b["content_type"]:
        add("content_type", "", a["content_type"], b["content_type"], BREAKING, "content type changed")
    if a["body"] != b["body"]:
        add("body", "", a["body"], b["body"], BREAKING, "body kind changed")
    for name in sorted(set(a["headers"]) | set(b["headers"])):
        if name not in b["headers"]:
            add("header", name, "present", "absent", BREAKING, "header removed")
        elif name not in a["headers"]:
            add("header", name, "absent", "present", ADDITIVE, "new header")
    for name in sorted(set(a["header_values"]) & set(b["header_values"])):
        if a["header_values"][name] != b["header_values"][name]:
            was, now = a["header_values"][name], b["header_values"][name]
            add("header_value", name, was, now, BREAKING, "header value changed")
    removed, added = set(a["shape"]) - set(b["shape"]), set(b["shape"]) - set(a["shape"])
    for path in sorted(set(a["shape"]) | set(b["shape"])):
        was, now = a["shape"].get(path), b["shape"].get(path)
        if path in removed and not _under_any(path, removed):
            add("shape", path, was, ABSENT, BREAKING, "field removed" + _with_fields_under(path, removed))
        elif path in added and not _under_any(path, added):
            add("shape", path, ABSENT, now, ADDITIVE, "new field" + _with_fields_under(path, added))
        elif was is not None and now is not None and was != now:
            add("shape", path, was, now, BREAKING, "field retyped")
    for aspect, what in (("values", "value changed"), ("counts", "count changed")):
        for path in sorted(set(a[aspect]) & set(b[aspect])):
            if a[aspect][path] != b[aspect][path]:
                add(aspect.removesuffix("s"), path, a[aspect][path], b[aspect][path], BREAKING, what)
    rules_a, rules_b = one.get("rules", {}), two.get("rules", {})
    for name in sorted(set(rules_a) & set(rules_b)):
        was, now = rules_a[name], rules_b[name]
        if was == now:
            continue
        if isinstance(was, bool) and isinstance(now, bool):
            kind, what = (BREAKING, "rule no longer holds") if was else (ADDITIVE, "rule now holds")
        else:
            kind, what = BREAKING, "rule value changed"
        add("rule", name, was, now, kind, what)
    return found


def _under(path: str, ancestor: str) -> bool:
    return path.startswith((f"{ancestor}.", f"{ancestor}[]"))


def _under_any(path: str, paths: set[str]) -> bool:
    """Whether ``path`` lies under another of ``paths``: reported with it, not on its own."""
    return any(_under(path, other) for other in paths if other != path)


def _with_fields_under(path: str, paths: set[str]) -> str:
    below = sum(1 for other in paths if _under(other, path))
    return f" (with {below} path(s) under it)" if below else ""


def _summary(answer: dict[str, Any]) -> str:
    """A status and what a client reads first in its body: ``404 {"error": "Resource Not Found"}``."""
    values = answer.get("values", {})
    said = next((f"{k}: {values[k]!r}" for k in ("error", "errors[].message", "errors", "message") if k in values), "")
    return f"{answer['status']} {said}".strip()


def _group_by_profile(result: Comparison) -> None:
    name_before, name_after = result.before.get("profile"), result.after.get("profile")
    if name_before == name_after or name_before not in answers.PROFILES or name_after not in answers.PROFILES:
        return
    one, two = answers.PROFILES[name_before], answers.PROFILES[name_after]
    change = ProfileChange(name_before, name_after)
    for row, fields in PROFILE_ROWS.items():
        if any(getattr(one, f) != getattr(two, f) for f in fields):
            change.rows[row] = []
    for difference in result.differences:
        explained = _explained_by(difference, one, two, result.after["steps"][difference.step])
        if explained is not None and explained in change.rows:
            difference.row = explained
            change.rows[explained].append(difference)
    result.profile_change = change


def _explained_by(d: Difference, one: answers.Profile, two: answers.Profile, step: dict[str, Any]) -> str | None:
    """The row of the profile table that explains ``d`` between profiles ``one`` and ``two``, if any."""
    if OVER_LIMIT in step.get("tags", []):
        return LONG_ROW
    leaf = d.path.rsplit(".", 1)[-1]
    if d.aspect == "value" and leaf == "workflow_state" and _swapped(d, one.closed_state, two.closed_state):
        return STATE_ROW
    if d.aspect == "value" and d.path == "message" and _swapped(d, one.destroy_message, two.destroy_message):
        return DELETE_ROW
    if d.path.startswith(("messages[].id", "messages[].feedback")):
        return MESSAGES_ROW
    if d.path == "all_objectives_met" and step.get("route") == "getConversation":
        return SHOW_ROW
    return None


def _swapped(d: Difference, was: str, now: str) -> bool:
    """Whether ``d`` turned ``was`` into ``now`` (in one value or in a list of them), and nothing else."""
    if isinstance(d.before, list) and isinstance(d.after, list):
        return len(d.before) == len(d.after) and all(
            x == y or (x, y) == (was, now) for x, y in zip(d.before, d.after, strict=True)
        )
    return (d.before, d.after) == (was, now)
