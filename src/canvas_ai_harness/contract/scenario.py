"""``Canvas``: what the modules of ``contract_tests/`` use to talk to the target.

A thin layer over the run's ``CanvasClient`` in Canvas's own vocabulary (create, post, show,
destroy, active) that knows the target's ids. Every call goes through the client, so the
rulebook judges each answer; a scenario only has to make the requests a rule needs, and
``judging()`` makes sure the rule it is about was really applied.

``student`` is the student account a scenario acts as: the plugin hands each scenario the one of
the target's students (``[tokens] students``) that has created the fewest conversations so far, so
that no single account carries a run's creates. A scenario that can use the conversation its
student already has (``conversation()``) does, and creates one only where its rule needs a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from canvas_ai_harness.contract.client import Exchange
from canvas_ai_harness.contract.limits import CannotRun, DailyLimitReached, MissingTargetField, NotExercised

if TYPE_CHECKING:
    from canvas_ai_harness.contract.session import ContractSession

__all__ = ["Canvas"]

_CREATE_ATTEMPTS = 3  # a 503 is the AI service failing; a few tries before giving up


class Canvas:
    """The target, as the scenarios of the contract suite see it."""

    def __init__(self, session: ContractSession) -> None:
        self.session = session
        self.client = session.client
        self.target = session.target
        self.ledger = session.ledger
        self.student = "student"  # this scenario's student account (see the module's docstring)

    @property
    def profile(self) -> Any:
        return self.session.profile

    def needs(self, *fields: str) -> None:
        """Skip (one line naming the field) unless the target file has every field given."""
        for name in fields:
            owner, _, attr = name.rpartition(".")
            value = getattr(self.target.tokens if owner == "tokens" else self.target, attr)
            if value is None:
                raise MissingTargetField(name)

    def path(self, conversation: int | str | None = None, **refs: Any) -> str:
        return self.client.path(conversation, **refs)

    # -- requests -----------------------------------------------------------------------------
    def call(self, identity: str, method: str, path: str, **kwargs: Any) -> Exchange:
        return self.client.request(identity, method, path, **kwargs)

    def active(self, identity: str | None = None, **kwargs: Any) -> Exchange:
        refs = {k: kwargs.pop(k) for k in ("course", "experience") if k in kwargs}
        return self.call(identity or self.student, "GET", self.path(**refs), **kwargs)

    def create(self, identity: str | None = None, headers: dict[str, str] | None = None, **refs: Any) -> int:
        """Start a conversation and return its id (retrying the AI service's 503s)."""
        identity = identity or self.student
        for _ in range(_CREATE_ATTEMPTS):
            answer = self.call(identity, "POST", self.path(**refs), headers=headers)
            body = answer.json()
            if 200 <= answer.status < 300 and isinstance(body, dict) and body.get("id") is not None:
                return int(body["id"])
            if answer.status == 429:  # the client raises profile ended's rate_limited itself; any other 429
                raise DailyLimitReached(f"{identity} could not create: Canvas answered 429 (a rate limit)")
            unsaved = answer.status == 201 and isinstance(body, dict) and body.get("id") is None
            if answer.status != 503 and not unsaved:  # 503 and a null id: the AI service, try again
                break
        raise CannotRun(f"could not start a conversation as {identity} (last answer {answer.status})")

    def conversation(self, identity: str | None = None, **refs: Any) -> int:
        """The caller's active conversation as far as the run knows, else a new one."""
        identity = identity or self.student
        experience = str(refs.get("experience") or self.target.ai_experience_id)
        record = self.ledger.active_record(identity, experience)
        return record.id if record is not None else self.create(identity, **refs)

    def post(
        self, conversation: int, message: Any, identity: str | None = None, encoding: str = "json", **refs: Any
    ) -> Exchange:
        """post_message with ``message`` sent as JSON, as a form, or in the query string."""
        identity = identity or self.student
        path = self.path(conversation, messages=True, **refs)
        if encoding == "json":
            return self.call(identity, "POST", path, json_body={"message": message})
        if encoding == "form":
            return self.call(identity, "POST", path, form={"message": message})
        if encoding == "query":
            return self.call(identity, "POST", path, params={"message": message})
        raise ValueError(f"encoding {encoding!r} is not json, form or query")

    def show(self, conversation: int, identity: str = "teacher", **kwargs: Any) -> Exchange:
        refs = {k: kwargs.pop(k) for k in ("course", "experience") if k in kwargs}
        return self.call(identity, "GET", self.path(conversation, **refs), **kwargs)

    def destroy(self, conversation: int, identity: str | None = None, **refs: Any) -> Exchange:
        return self.call(identity or self.student, "DELETE", self.path(conversation, **refs))

    # -- honesty ------------------------------------------------------------------------------
    @contextmanager
    def judging(self, *checks: str) -> Iterator[None]:
        """Fail unless every check named was applied to at least one answer inside the block."""
        before = {name: self._count(name) for name in checks}
        yield
        missed = [name for name in checks if self._count(name) == before[name]]
        if missed and self._target_broke_something():
            # e.g. the create that should have set the scene was itself a break: report that one
            raise NotExercised(f"{', '.join(missed)} not exercised: an earlier break left nothing to test it on")
        if missed:
            raise AssertionError(f"the scenario never exercised {', '.join(missed)}: no answer it got applied")

    def _target_broke_something(self) -> bool:
        return any(counts[1] for counts in self.session.results.evaluations.values())

    def _count(self, check: str) -> int:
        return sum(sum(counts) for (name, _), counts in self.session.results.evaluations.items() if name == check)
