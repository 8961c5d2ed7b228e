"""One contract run: the target, its profile, the client, the rulebook, and what happened.

``ContractSession.open(settings)`` resolves the target (``--target``, else ``CANVAS_AI_TARGET``,
else an embedded mock Canvas on a free port), runs the preflight (``preflight.py``) on it, settles the profile
(``--profile``, else the target file's; ``auto`` asks the target), and builds the client and
rulebook every check uses. ``close()`` ends every conversation the run created, also after
Ctrl-C, and stops the embedded mock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from canvas_ai_harness.canvas import answers, lifecycle, routes
from canvas_ai_harness.config import TARGET_ENV, Target, load_target
from canvas_ai_harness.contract.access import MANAGERS
from canvas_ai_harness.contract.allowance import CREATE
from canvas_ai_harness.contract.client import CanvasClient
from canvas_ai_harness.contract.ledger import Ledger
from canvas_ai_harness.contract.limits import CannotRun, CreateBudget, DailyLimitReached, LLMBudget, Pacer
from canvas_ai_harness.contract.reading import int_id
from canvas_ai_harness.contract.rulebook import Results, Rulebook
from canvas_ai_harness.contract.selection import Selection
from canvas_ai_harness.errors import ConfigError, HarnessError, TargetUnreachable
from canvas_ai_harness.preflight import preflight
from canvas_ai_harness.redact import Redactor
from canvas_ai_harness.validation import SpecValidator

__all__ = [
    "DEFAULT_LIVE_CREATES",
    "DEFAULT_LIVE_LLM_CALLS",
    "DEFAULT_LIVE_RATE",
    "ContractSession",
    "Outcome",
    "Settings",
]

PROFILE_OPTIONS = (*answers.PROFILES, "auto")
DEFAULT_LIVE_LLM_CALLS = 150  # AI calls a run may cause on a target that is not the mock
DEFAULT_LIVE_RATE = 5.0  # requests per second on a target that is not the mock
# Creates a run may make on a target that is not the mock: two runs and a snapshot a day must fit
# in profile ended's 100 creates per user.
DEFAULT_LIVE_CREATES = 35


@dataclass(frozen=True, slots=True)
class Settings:
    """The options of a contract run. ``None`` means "the default for this kind of target"."""

    target_path: str | None = None
    profile: str | None = None  # completed, ended, auto; None: the target file's
    max_examples: int = 10
    seed: int | None = None
    max_llm_calls: int | None = None  # 0: no limit
    max_creates: int | None = None  # 0: no limit
    rate_limit: float | None = None  # requests per second; 0: no limit
    max_steps: int = 6
    report_dir: Path | None = None
    retry_base: float = 0.5  # seconds before the first retry of a throttled request
    preflight: bool = True  # False: the caller ran the preflight already (run_contract)
    # --only/--skip (contract/selection.py): names, validated into ``selection``
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    # The command line the report shows (redacted when written); empty: this process's argv.
    command: tuple[str, ...] = ()
    selection: Selection = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.profile is not None and self.profile not in PROFILE_OPTIONS:
            raise ConfigError(f"--profile {self.profile!r} is not one of {', '.join(PROFILE_OPTIONS)}")
        for name in ("max_examples", "max_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("max_llm_calls", "max_creates"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 (no limit) or more")
        if self.rate_limit is not None and self.rate_limit < 0:
            raise ConfigError("--rate-limit must be 0 (no limit) or more")
        selection = Selection(self.only, self.skip)
        object.__setattr__(self, "selection", selection)
        object.__setattr__(self, "only", selection.only)
        object.__setattr__(self, "skip", selection.skip)


@dataclass(slots=True)
class Outcome:
    """How one test of the suite ended."""

    nodeid: str
    outcome: str  # passed, failed, skipped, error, harness-error (a bug of the harness, not the target's)
    checks: tuple[str, ...] = ()
    operation: str | None = None
    reason: str = ""  # why it was skipped, or the error
    incomplete: bool = False  # skipped because the run could not do it (budget, throttling)
    violation: dict[str, Any] | None = None
    duration: float = 0.0
    traceback: str = ""  # a harness error's traceback, redacted


@dataclass(slots=True)
class Cleanup:
    created: int = 0
    closed: int = 0
    already_closed: int = 0
    left_open: list[int] = field(default_factory=list)
    unconfirmed: list[str] = field(
        default_factory=list
    )  # identities whose broken-off create Canvas could not be asked about


class ContractSession:
    """Everything one contract run shares: target, profile, client, ledger, rulebook, results."""

    def __init__(self, settings: Settings, target: Target, *, embedded: Any = None, is_mock: bool = False) -> None:
        self.settings = settings
        self.target = target
        self.embedded = embedded  # the MockServer this run started, if any
        self.is_mock = is_mock
        self.started = time.time()
        self.seed = settings.seed if settings.seed is not None else int.from_bytes(os.urandom(4), "big")
        self.redactor = Redactor(target.secrets(), variables=target.token_vars.values())
        self.validator = SpecValidator()
        limit = settings.max_llm_calls
        if limit is None:
            limit = 0 if is_mock else DEFAULT_LIVE_LLM_CALLS
        rate = settings.rate_limit
        if rate is None:
            rate = 0.0 if is_mock else DEFAULT_LIVE_RATE
        self.budget = LLMBudget(limit or None)
        creates = settings.max_creates
        if creates is None:
            creates = 0 if is_mock else DEFAULT_LIVE_CREATES
        self.creates = CreateBudget(creates or None)
        self.estimate: Any = None  # the cost estimate printed before the first request (allowance.Estimate)
        self.client = CanvasClient(
            target,
            validator=self.validator,
            redactor=self.redactor,
            budget=self.budget,
            pacer=Pacer(rate or None),
            retry_base=settings.retry_base,
            creates=self.creates,
        )
        self.ledger = Ledger()
        self.results = Results(chosen=settings.selection.chosen if settings.selection.narrowed else None)
        self.outcomes: list[Outcome] = []
        self.cleanup = Cleanup()
        self.interrupted = False
        self.explorations_left = 6  # five operations' property-based tests and the stateful sequences
        self.unsent = 0  # generated cases not sent, to stay within the AI-call budget
        self.notes: list[str] = []  # what the summary should mention that is neither pass nor fail
        self.unreachable: str | None = None  # why the run stopped, if the target stopped answering
        self.accounts_in_use: str | None = None  # why the run stopped, if someone else used its accounts
        self.traceback_path: Path | None = None  # where harness errors' tracebacks went without --report-dir
        self.profile_name = target.profile
        self.profile_source = "target file" if target.source != "<mock>" else "the embedded mock's"
        if settings.profile in answers.PROFILES:
            self.profile_name, self.profile_source = settings.profile, "--profile"
        self.profile = answers.PROFILES[self.profile_name]
        self.rulebook = self._rulebook()

    @classmethod
    def open(cls, settings: Settings) -> ContractSession:
        """Resolve and reach the target, start the embedded mock if there is none, settle the profile."""
        prepare_report_dir(settings.report_dir)
        path = settings.target_path or os.environ.get(TARGET_ENV) or None
        if path is not None:
            target = load_target(path)
            if settings.preflight:
                preflight(target)  # a broken setup is exit 2 before any AI call
            else:
                reach(target)
            session = cls(settings, target, is_mock=target.is_local() and _is_mock(target))
        else:
            from canvas_ai_harness.mock import MockConfig, MockServer

            mock_profile = settings.profile if settings.profile in answers.PROFILES else "completed"
            server = MockServer(MockConfig(profile=mock_profile, seed=settings.seed)).start()
            session = cls(settings, server.target(), embedded=server, is_mock=True)
        if settings.profile == "auto":
            try:
                session.detect_profile()
            except BaseException:
                session.close()
                raise
        return session

    def _rulebook(self) -> Rulebook:
        rulebook = Rulebook(
            self.target, self.profile, self.validator, self.ledger, self.results, self.client.curl, self
        )
        self.client.observers = [rulebook]
        return rulebook

    def ask_active(self, identity: str, course: str, experience: str) -> int | None:
        """The id Canvas answers as ``identity``'s active conversation (``None``: none, or no plain answer)."""
        answer = self.client.request(
            identity, "GET", self.client.path(course=course, experience=experience), observe=False
        )
        body = answer.json()
        return int_id(body.get("id")) if answer.status == 200 and isinstance(body, dict) else None

    def owns_active(self, identity: str, course: str, experience: str, conversation: int) -> bool:
        """Whether Canvas treats ``conversation`` as ``identity``'s own active one.

        A student's show of its own active conversation is refused 403, of any other 404
        (``canvas.lifecycle.refusal``). A teacher may show any, so it cannot tell: ``False``.
        """
        if identity in MANAGERS:
            return False
        own = lifecycle.refusal(routes.SHOW, same_experience=True, manager=False, own=True, active=True)
        path = self.client.path(conversation, course=course, experience=experience)
        answer = self.client.request(identity, "GET", path, observe=False)
        return own is not None and answer.status == own.status and answer.json() == own.body

    # -- profile ------------------------------------------------------------------------------
    def detect_profile(self) -> None:
        """``--profile auto``: create a conversation, end it, and read the profile off the answers."""
        client = self.client
        try:
            created = client.request("student", "POST", client.path(), observe=False)
        except DailyLimitReached:
            # Only profile ended has per-user daily limits: its 429 rate_limited names the profile.
            self._set_profile("ended", "detected: create answered 429 rate_limited, profile ended's daily limit")
            return
        body = created.json()
        cid = body.get("id") if isinstance(body, dict) else None
        if created.status not in (200, 201) or not isinstance(cid, int):
            raise ConfigError(
                f"--profile auto: create answered {created.status} without an id, so the profile cannot be "
                "detected; pass --profile completed or --profile ended"
            )
        self.ledger.created("student", self.target.course_id, self.target.ai_experience_id, cid)
        ended = client.request("student", "DELETE", client.path(cid), observe=False)
        if 200 <= ended.status < 300:
            self.ledger.destroyed(cid)
        answer = ended.json()
        for name, profile in answers.PROFILES.items():
            if answer == {"message": profile.destroy_message}:
                self._set_profile(name, f'detected: destroy answered "{profile.destroy_message}"')
                return
        said = self.redactor(ended.body.decode("utf-8", "replace"))[:200]
        raise ConfigError(
            f"--profile auto: destroy answered {ended.status} {said}, which matches no known profile; "
            "pass --profile completed or --profile ended"
        )

    def next_student(self) -> str:
        """The student account with the fewest creates so far: a run's creates spread over them all."""
        used = self.client.allowance.used
        return min(self.target.tokens.student_pool, key=lambda identity: used[(identity, CREATE)])

    def _set_profile(self, name: str, source: str) -> None:
        self.profile_name, self.profile_source = name, source
        self.profile = answers.PROFILES[name]
        self.rulebook = self._rulebook()

    # -- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        """End every conversation the run created, then stop the embedded mock. Safe to call twice."""
        try:
            self._end_conversations()
        finally:
            self.client.close()
            if self.embedded is not None:
                self.embedded.stop()
                self.embedded = None

    def _settle_broken_creates(self) -> None:
        """Ask Canvas what each create that broke off left active, as the load suite does.

        The create may have reached Canvas (which then closed the caller's conversation and
        opened one) before the run stopped: whatever Canvas answers as the caller's active
        conversation that the ledger does not know is that create's, and is ended with the rest.
        """
        client = self.client
        for identity, course, experience in sorted(client.unsettled_creates):
            try:
                found = self.ask_active(identity, course, experience)
            except KeyboardInterrupt:
                self.interrupted = True
                self.cleanup.unconfirmed.append(identity)
                return
            except (CannotRun, HarnessError):
                self.cleanup.unconfirmed.append(identity)
                continue
            if found is not None and self.ledger.get(found) is None:
                self.ledger.created(identity, course, experience, found)
        client.unsettled_creates.clear()

    def _end_conversations(self) -> None:
        self._settle_broken_creates()
        self.cleanup.created = len(self.ledger.conversations)
        pending = self.ledger.to_close()
        self.cleanup.already_closed = self.cleanup.created - len(pending)
        client = self.client
        for index, record in enumerate(pending):
            try:
                path = client.path(record.id, course=record.course_ref, experience=record.experience_id)
                answer = client.request(record.owner, "DELETE", path, observe=False)
                if lifecycle.says_closed(routes.DESTROY, answer.status):
                    self.cleanup.already_closed += 1  # its owner can no longer reach it: closed already
                elif 200 <= answer.status < 300:
                    self.cleanup.closed += 1
                else:
                    self.cleanup.left_open.append(record.id)
            except KeyboardInterrupt:
                self.interrupted = True
                self.cleanup.left_open += [r.id for r in pending[index:]]
                return
            except (CannotRun, HarnessError):
                self.cleanup.left_open.append(record.id)

    # -- results ------------------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        return any(o.outcome in ("failed", "error") for o in self.outcomes)

    @property
    def harness_errors(self) -> list[Outcome]:
        """Tests that ended on a bug of the harness: exit 3, never the target's failure."""
        return [o for o in self.outcomes if o.outcome == "harness-error"]

    @property
    def incomplete(self) -> bool:
        return any(o.incomplete for o in self.outcomes)

    @property
    def duration(self) -> float:
        return time.time() - self.started


def prepare_report_dir(directory: Path | None) -> None:
    """Create ``--report-dir`` now, so that a bad one is a usage error rather than lost reports."""
    if directory is None:
        return
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--report-dir {directory}: cannot create it ({exc.strerror})") from exc


def reach(target: Target, timeout: float = 10.0) -> None:
    """Check that something answers HTTP at the target; ``TargetUnreachable`` in one line if not.

    The probe carries no token and touches no conversation: Canvas answers it 401 (or 404).
    """
    url = target.base_url + target.path()
    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise TargetUnreachable(
            f"cannot reach the target at {target.base_url} ({type(exc).__name__}); check base_url in "
            f"{target.source} and that the server is up"
        ) from exc


def _is_mock(target: Target) -> bool:
    """Whether a local target is this harness's mock (it then needs no AI budget and no pacing)."""
    try:
        answer = httpx.get(f"{target.base_url}/__harness__/health", timeout=5.0)
        return answer.status_code == 200 and answer.json().get("ok") is True
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def report_path(directory: Path | None, name: str) -> Path | None:
    return None if directory is None else Path(directory) / name
