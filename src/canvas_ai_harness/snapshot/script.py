"""The snapshot's one fixed script: every route, identity and scenario the contract suite knows.

``Script(client, ledger, target, normaliser).run()`` sends the same requests in the same order
against any Canvas and returns, per step (``route/scenario``), the normalised answer
(``normalise.py``) and the rules that held on it (``rules``: the transcript rules of
``canvas.transcript``, ``turn-adds`` the messages a turn added, progress consistency, no token
echoed). A step that cannot run (a token the target file lacks, the AI-call budget) is recorded
as skipped with the reason; ``diff`` does not compare it.

Requests go through the contract suite's ``CanvasClient`` (pacing, throttling retries, the
AI-call budget) and never reach its rulebook (``observe=False``): the script records, ``diff``
judges. Every conversation the script creates is in the ledger, which the contract session's
``close()`` ends, also after Ctrl-C.

Cost on a faithful Canvas: 72 requests, 4 creates (``CREATES``: 3 by the student, 1 by the
other student) and 9 post_messages Canvas serves (8 in profile ``ended``). The client keeps the
run's budgets (``--max-llm-calls``, ``--max-creates``): a create beyond them, and every step that
needs its conversation, is recorded as skipped (incomplete).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from canvas_ai_harness.canvas import answers, bodies, routes, transcript
from canvas_ai_harness.canvas.requests import sis_course_ref
from canvas_ai_harness.config import Target
from canvas_ai_harness.contract.access import UNKNOWN_COURSE, UNKNOWN_EXPERIENCE
from canvas_ai_harness.contract.client import ANONYMOUS, COSTLY_OPERATIONS, INVALID, CanvasClient, Exchange
from canvas_ai_harness.contract.ledger import Ledger
from canvas_ai_harness.contract.limits import CannotRun
from canvas_ai_harness.snapshot.normalise import Normaliser

__all__ = ["AI_CALLS", "CREATES", "OVER_LIMIT", "REQUESTS", "Script", "cost"]

CREATES: Final = 4  # conversations the script creates on a faithful Canvas
# What a snapshot costs a faithful Canvas (profile completed; ended refuses the over-limit
# message, one AI call less), announced before the first request; a test holds them to the script.
REQUESTS: Final = 72
AI_CALLS: Final = {"student": 12, "other_student": 1}  # creates and post_messages Canvas serves


def cost() -> str:
    """The cost of a snapshot in one line, for before the first request."""
    per_identity = ", ".join(f"{k} {v}" for k, v in AI_CALLS.items())
    return (
        f"about {REQUESTS} requests, {CREATES} creates and at most {sum(AI_CALLS.values())} AI calls "
        f"({per_identity}); every conversation is ended at the end"
    )


OVER_LIMIT: Final = "over-limit"  # the tag of a step whose message exceeds a profile's length limit
UNKNOWN_USER: Final = "9223372036854775003"
UNKNOWN_CONVERSATION: Final = "9223372036854775004"
STRING_IDS: Final = {"Accept": f"{bodies.CANVAS_STRING_IDS}, application/json"}

TEXT_JSON: Final = "What does a cell membrane do for the cell?"
TEXT_FORM: Final = "It keeps the inside of the cell apart from the outside world."
TEXT_QUERY: Final = "Does it let some molecules through and not others?"
TEXT_UNICODE: Final = "Ça dépend: e\u0301 (décomposé), 細胞膜, emoji \U0001f9ec, ünïcödé"
TEXT_PADDED: Final = "  padded  with   inner  spaces\tand a tab, then a newline\n  "
TEXT_LONG: Final = ("membrane " * 334)[:3000]  # within every profile's limit, beyond a truncation at 2000
TEXT_OVER_LIMIT: Final = ("limit " * 800)[:4500]  # over profile ended's 4000 characters
TEXT_PLAIN: Final = "One more question about the membrane, please."


class Script:
    """The fixed request script of a snapshot; ``run()`` returns its steps."""

    def __init__(
        self,
        client: CanvasClient,
        ledger: Ledger,
        target: Target,
        normaliser: Normaliser,
    ) -> None:
        self.client, self.ledger, self.target, self.normaliser = client, ledger, target, normaliser
        self.steps: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.ai_calls: Counter[str] = Counter()  # per identity: creates and post_messages Canvas served
        self.transcripts: dict[int, list[transcript.Turn]] = {}
        self.student_user_id: str | None = None
        self._skipping: tuple[str, bool] | None = None  # (why, incomplete) while steps cannot run

    # -- the script ---------------------------------------------------------------------------
    def run(self) -> dict[str, dict[str, Any]]:
        first = self.create("student-creates", "student")
        self.get("getActiveConversation/student-has-active", "student", self.target.path())
        self.get("getActiveConversation/teacher-own-none", "teacher", self.target.path())
        self.with_conversation(first, "createConversation/student-creates", self.first_conversation)
        self.create_closes_previous()
        self.other_students_conversation()
        self.refusals()
        return self.steps

    def first_conversation(self, cid: int) -> None:
        self.turns(cid)
        self.visibility(cid)
        self.conventions()
        self.after_end(cid)

    def turns(self, cid: int) -> None:
        path = self.target.path(cid, messages=True)
        for scenario, kwargs, sent in (
            ("json-message", {"json_body": {"message": TEXT_JSON}}, TEXT_JSON),
            ("form-message", {"form": {"message": TEXT_FORM}}, TEXT_FORM),
            ("query-message", {"params": {"message": TEXT_QUERY}}, TEXT_QUERY),
            ("unicode-message", {"json_body": {"message": TEXT_UNICODE}}, TEXT_UNICODE),
            ("padded-message", {"json_body": {"message": TEXT_PADDED}}, TEXT_PADDED),
            ("long-message", {"json_body": {"message": TEXT_LONG}}, TEXT_LONG),
            ("number-message", {"json_body": {"message": 42}}, None),
            ("blank-message", {"json_body": {"message": " \t\n "}}, None),
            ("empty-message", {"json_body": {"message": ""}}, None),
            ("missing-message", {"json_body": {}}, None),
            ("list-message", {"json_body": {"message": ["a", "list"]}}, None),
            ("access-token-in-form", {"form": {"message": TEXT_PLAIN}, "token_in": "form"}, TEXT_PLAIN),
        ):
            self.send(f"postMessage/{scenario}", "student", "POST", path, conversation=cid, sent=sent, **kwargs)

    def visibility(self, cid: int) -> None:
        """Who may see the student's active conversation: the matrix of identities and routes."""
        show, post = self.target.path(cid), self.target.path(cid, messages=True)
        answer = self.get("getConversation/teacher-shows-active", "teacher", show, conversation=cid)
        body = answer.json() if answer is not None else None
        if isinstance(body, dict) and body.get("user_id") is not None:
            self.student_user_id = str(body["user_id"])
        self.get("getConversation/teacher-shows-string-ids", "teacher", show, conversation=cid, headers=STRING_IDS)
        self.get("getConversation/student-shows-own", "student", show)
        for identity in ("other_student", "outsider", ANONYMOUS, INVALID):
            name = identity.replace("_", "-")
            self.get(f"getConversation/{name}-shows", identity, show)
            self.send(f"postMessage/{name}-posts", identity, "POST", post, json_body={"message": TEXT_PLAIN})
            self.send(f"deleteConversation/{name}-ends", identity, "DELETE", show)
        other = self.target.other_ai_experience_id
        if other is None:
            self.skip("getConversation/through-other-experience", "the target file has no other_ai_experience_id")
        else:
            self.get("getConversation/through-other-experience", "teacher", self.target.path(cid, experience=other))
            self.get("getActiveConversation/other-experience-none", "student", self.target.path(experience=other))

    def conventions(self) -> None:
        """Canvas-wide conventions on the active route: string ids, .json, access_token, SIS ids, masquerading."""
        path = self.target.path()
        self.get("getActiveConversation/string-ids", "student", path, headers=STRING_IDS)
        self.get("getActiveConversation/trailing-json", "student", path + ".json")
        self.get("getActiveConversation/access-token-in-query", "student", path, token_in="query")
        if self.target.course_sis_id is None:
            self.skip("getActiveConversation/sis-course-id", "the target file has no course_sis_id")
        else:
            sis_path = self.target.path(course=sis_course_ref(self.target.course_sis_id))
            self.get("getActiveConversation/sis-course-id", "student", sis_path)
        if self.student_user_id is None:
            self.skip("getActiveConversation/admin-as-student", "the teacher's show gave no user_id")
        else:
            params = {"as_user_id": self.student_user_id}
            self.get("getActiveConversation/admin-as-student", "admin", path, params=params)
        self.get("getActiveConversation/admin-as-unknown-user", "admin", path, params={"as_user_id": UNKNOWN_USER})

    def after_end(self, cid: int) -> None:
        show, post = self.target.path(cid), self.target.path(cid, messages=True)
        self.send("deleteConversation/student-ends", "student", "DELETE", show)
        self.get("getActiveConversation/after-end", "student", self.target.path())
        self.send("postMessage/after-end", "student", "POST", post, json_body={"message": TEXT_PLAIN})
        self.send("deleteConversation/after-end", "student", "DELETE", show)
        self.get("getConversation/student-shows-after-end", "student", show)
        self.get("getConversation/teacher-shows-after-end", "teacher", show, conversation=cid)

    def create_closes_previous(self) -> None:
        earlier = self.create("student-creates-again", "student")
        latest = self.create("create-closes-previous", "student")
        self.with_conversation(earlier, "createConversation/student-creates-again", self.replaced)
        self.with_conversation(latest, "createConversation/create-closes-previous", self.latest)

    def latest(self, cid: int) -> None:
        self.get("getActiveConversation/after-second-create", "student", self.target.path(), conversation=cid)
        self.over_limit(cid)

    def replaced(self, cid: int) -> None:
        answer = self.get("getConversation/teacher-shows-replaced", "teacher", self.target.path(cid), conversation=cid)
        body = answer.json() if answer is not None else None
        if isinstance(body, dict) and body.get("workflow_state") in {p.closed_state for p in answers.PROFILES.values()}:
            self.ledger.confirmed_closed(cid)  # Canvas shows it closed: clean-up need not end it

    def over_limit(self, cid: int) -> None:
        body = {"message": TEXT_OVER_LIMIT}
        path = self.target.path(cid, messages=True)
        key = "postMessage/over-limit-message"
        self.send(
            key, "student", "POST", path, conversation=cid, sent=TEXT_OVER_LIMIT, tags=(OVER_LIMIT,), json_body=body
        )
        self.send("deleteConversation/student-ends-latest", "student", "DELETE", self.target.path(cid))

    def other_students_conversation(self) -> None:
        theirs = self.create("other-student-creates", "other_student")
        self.with_conversation(theirs, "createConversation/other-student-creates", self.theirs)

    def theirs(self, cid: int) -> None:
        show, post = self.target.path(cid), self.target.path(cid, messages=True)
        self.get("getConversation/student-shows-other-students", "student", show)
        self.send(
            "postMessage/student-posts-to-other-students", "student", "POST", post, json_body={"message": TEXT_PLAIN}
        )
        self.send("deleteConversation/student-ends-other-students", "student", "DELETE", show)
        self.get("getConversation/teacher-shows-other-students", "teacher", show, conversation=cid)
        self.send("deleteConversation/other-student-ends-own", "other_student", "DELETE", show)

    def refusals(self) -> None:
        """The error cases, each on a route that costs no AI call when Canvas refuses it."""
        t = self.target
        path = t.path()
        self.get("getActiveConversation/unknown-course", "student", t.path(course=UNKNOWN_COURSE))
        self.get("getActiveConversation/unknown-experience", "student", t.path(experience=UNKNOWN_EXPERIENCE))
        for scenario, field in (
            ("deleted-experience", "deleted_ai_experience_id"),
            ("unpublished-experience", "unpublished_ai_experience_id"),
            ("other-courses-experience", "other_course_ai_experience_id"),
        ):
            experience = getattr(t, field)
            if experience is None:
                self.skip(f"getActiveConversation/{scenario}", f"the target file has no {field}")
            else:
                self.get(f"getActiveConversation/{scenario}", "student", t.path(experience=experience))
        if t.feature_disabled_course_id is None or t.feature_disabled_ai_experience_id is None:
            for scenario in ("flag-off", "flag-off-no-token"):
                self.skip(f"getActiveConversation/{scenario}", "the target file has no feature_disabled_course_id")
        else:
            flag_off = t.path(course=t.feature_disabled_course_id, experience=t.feature_disabled_ai_experience_id)
            self.get("getActiveConversation/flag-off", "student", flag_off)
            self.get("getActiveConversation/flag-off-no-token", ANONYMOUS, flag_off)
        for identity in (ANONYMOUS, INVALID, "outsider"):
            self.get(f"getActiveConversation/{identity.replace('_', '-')}", identity, path)
            self.send(f"createConversation/{identity.replace('_', '-')}", identity, "POST", path)
        self.get("getConversation/unknown-conversation", "teacher", t.path(UNKNOWN_CONVERSATION))
        self.get("no-route/unknown-route", "student", t.path(UNKNOWN_CONVERSATION) + "/evaluation_of_nothing")
        self.send("no-route/unsupported-method", "student", "PUT", path)

    # -- steps --------------------------------------------------------------------------------
    def with_conversation(self, cid: int | None, create_key: str, steps: Callable[[int], None]) -> None:
        """Run ``steps`` on the conversation ``create_key`` created; without one, record them as skipped.

        Every step is then recorded on every Canvas, run or skipped: ``diff`` never meets a step
        that one side simply lacks. The skips are incomplete unless the create was skipped for a
        reason of the target file (a token it lacks).
        """
        if cid is not None:
            steps(cid)
            return
        created = self.steps.get(create_key, {})
        if "skipped" in created:
            reason = f"needs the conversation of {create_key}, skipped: {created['skipped']}"
            incomplete = bool(created.get("incomplete"))
        else:
            reason, incomplete = f"needs the conversation of {create_key}, which Canvas did not create", True
        outer, self._skipping = self._skipping, (reason, incomplete)
        try:
            steps(0)
        finally:
            self._skipping = outer

    def create(self, scenario: str, identity: str) -> int | None:
        """A create step; the new conversation's id, or ``None`` when Canvas gave none."""
        key = f"createConversation/{scenario}"
        answer = self.send(key, identity, "POST", self.target.path())
        body = answer.json() if answer is not None else None
        cid = (
            _int_id(body.get("id"))
            if isinstance(body, dict) and answer is not None and answer.kind == answers.OK
            else None
        )
        return cid

    def get(self, key: str, identity: str, path: str, **kwargs: Any) -> Exchange | None:
        return self.send(key, identity, "GET", path, **kwargs)

    def skip(self, key: str, reason: str, *, incomplete: bool = False) -> None:
        """Record a step that could not run; ``incomplete``: the run, not the target file, is why."""
        route, scenario = key.split("/", 1)
        self.steps[key] = {"route": route, "scenario": scenario, "skipped": reason}
        if incomplete:
            self.steps[key]["incomplete"] = True

    def send(
        self,
        key: str,
        identity: str,
        method: str,
        path: str,
        *,
        conversation: int | None = None,
        sent: Any = None,
        tags: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Exchange | None:
        """Send one step's request and record its normalised answer (``None`` when it could not run)."""
        route, scenario = key.split("/", 1)
        if self._skipping is not None:
            self.skip(key, self._skipping[0], incomplete=self._skipping[1])
            return None
        try:
            exchange = self.client.request(identity, method, path, observe=False, **kwargs)
        except CannotRun as exc:
            self.skip(key, exc.reason, incomplete=exc.incomplete)
            return None
        previous = self.transcripts.get(conversation) if conversation is not None else None
        self._learn(exchange)
        self.steps[key] = {
            "route": route,
            "scenario": scenario,
            "identity": identity,
            "request": self._describe(method, path, kwargs),
            "tags": list(tags),
            "kind": exchange.kind,
            "answer": self.normaliser.answer(exchange.status, exchange.headers, exchange.body),
            "rules": self._rules(exchange, previous, sent),
        }
        return exchange

    def _learn(self, exchange: Exchange) -> None:
        """Keep the ledger (what cleanup ends) and the transcripts as Canvas answered."""
        operation = routes.match(exchange.method, exchange.path)
        body = exchange.json()
        cid = _int_id(body.get("id")) if isinstance(body, dict) else None
        if operation is not None and operation.operation_id == routes.CREATE:
            self.creates += exchange.kind == answers.OK
        if operation is not None and operation.operation_id in COSTLY_OPERATIONS and exchange.kind == answers.OK:
            self.ai_calls[exchange.identity] += 1
            self.ledger.after_create(
                exchange.kind, exchange.identity, self.target.course_id, self.target.ai_experience_id, cid
            )
        if operation is not None and operation.operation_id == routes.DESTROY and exchange.kind == answers.OK:
            destroyed = _int_id(operation.conversation)
            if destroyed is not None:
                self.ledger.destroyed(destroyed)
        turns = transcript.turns(body)
        if exchange.kind == answers.OK and cid is not None and turns is not None:
            self.transcripts[cid] = turns

    def _rules(self, exchange: Exchange, previous: list[transcript.Turn] | None, sent: Any) -> dict[str, Any]:
        text = exchange.body.decode("utf-8", "replace") + " ".join(exchange.headers.values())
        rules: dict[str, Any] = {"no-token-echoed": not any(s in text for s in self.target.secrets())}
        body = exchange.json()
        if exchange.kind != answers.OK or not isinstance(body, dict) or exchange.operation_id is None:
            return rules
        if exchange.operation_id == routes.ACTIVE:  # whose conversation is active: a fact, not a feature
            has = body.get("id") is not None
            rules["active-conversation"] = self.normaliser.placeholder("id", body["id"]) if has else "none"
        for name, problem in transcript.check(exchange.operation_id, body, previous=previous, sent=sent).items():
            rules[name] = problem is None
        turns = transcript.turns(body)
        if turns is not None:
            rules["assistant-text-non-empty"] = all(bool(t) for r, t in turns if r == "Assistant")
            if exchange.operation_id == routes.POST_MESSAGE and previous is not None:
                rules["turn-adds"] = len(turns) - len(previous)
        progress = body.get("progress")
        if isinstance(progress, dict) and all(
            isinstance(progress.get(k), int) for k in ("current", "total", "percentage")
        ):
            rules["progress-consistent"] = progress["percentage"] == bodies.percentage(
                progress["current"], progress["total"]
            )
        return rules

    def _describe(self, method: str, path: str, kwargs: dict[str, Any]) -> str:
        """The request in words, the target's ids by name and conversations by placeholder: alike on every Canvas."""
        t = self.target
        courses = {
            t.course_id: "course_id",
            t.feature_disabled_course_id: "feature_disabled_course_id",
            UNKNOWN_COURSE: "unknown",
        }
        experiences = {getattr(t, f): f for f in _EXPERIENCE_FIELDS} | {UNKNOWN_EXPERIENCE: "unknown"}
        parts = path.split("/")
        for index, names in ((4, courses), (6, experiences)):
            if len(parts) > index:
                value = parts[index]
                parts[index] = (
                    "{" + ("sis_course_id" if value.startswith("sis_course_id:") else names.get(value, "?")) + "}"
                )
        if len(parts) > 8:
            ref, dot, suffix = parts[8].partition(".")
            ref = "{unknown}" if ref == UNKNOWN_CONVERSATION else self.normaliser.placeholder("id", ref)
            parts[8] = ref + dot + suffix
        extra = [k for k in ("json_body", "form", "params", "headers", "token_in") if k in kwargs]
        return f"{method} {'/'.join(parts)}" + (f" ({', '.join(extra)})" if extra else "")


_EXPERIENCE_FIELDS: Final = (
    "ai_experience_id",
    "other_ai_experience_id",
    "deleted_ai_experience_id",
    "unpublished_ai_experience_id",
    "other_course_ai_experience_id",
    "feature_disabled_ai_experience_id",
)


def _int_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
