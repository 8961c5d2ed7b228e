"""Take a snapshot of a Canvas, write it, read it back; tell a snapshot file from a target file.

``take_snapshot(target_path, seed)`` opens a contract session (the target file, else
``CANVAS_AI_TARGET``, else the embedded mock seeded with ``seed``), runs the script, ends every
conversation it created (also after Ctrl-C) and returns a ``Snapshot``: the document written to
the file (``FORMAT``, ``VERSION``, the detected profile, the target's non-secret facts, the steps)
and the run's figures (requests, creates, AI calls, seconds), which stay out of the file so that
two snapshots of one Canvas are byte for byte the same.

``read_side(path)`` is what ``diff`` does with each of its arguments: a snapshot file is read and
its format checked; a target file (TOML with a ``base_url``) is snapshotted live.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from canvas_ai_harness import __version__
from canvas_ai_harness.canvas import answers
from canvas_ai_harness.config import Target, load_target
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.redact import redact_data
from canvas_ai_harness.snapshot.normalise import Normaliser
from canvas_ai_harness.snapshot.script import Script, cost

__all__ = ["FORMAT", "VERSION", "Side", "Snapshot", "read_side", "read_snapshot", "take_snapshot", "write_snapshot"]

FORMAT: Final = "canvas-ai-harness-snapshot"
VERSION: Final = 1  # raise it whenever the script or the normal form changes what a step records
_UNOBSERVED_KINDS: Final = frozenset({answers.AI_UNAVAILABLE, answers.DAILY_LIMIT, answers.THROTTLED})
_OTHERS: Final = ("other_student", "teacher", "outsider", "admin")  # the identities besides the students
PROFILE_STEP: Final = "deleteConversation/student-ends"  # its end message names the profile

Echo = Callable[[str], None]


@dataclass(slots=True)
class Snapshot:
    """A snapshot's document (what the file holds) and the figures of the run that took it."""

    document: dict[str, Any]
    requests: int = 0
    creates: int = 0
    ai_calls: int = 0
    throttle_retries: int = 0
    seconds: float = 0.0
    left_open: list[int] = field(default_factory=list)
    ai_calls_by_identity: dict[str, int] = field(default_factory=dict)  # AI calls Canvas served, per identity

    def summary(self) -> str:
        profile = self.document.get("profile") or "unknown"
        steps = self.document["steps"]
        skipped = sum(1 for s in steps.values() if "skipped" in s)
        line = (
            f"{len(steps)} steps ({skipped} skipped), {self.requests} requests, {self.creates} creates, "
            f"{self.ai_calls} AI calls, {self.seconds:.1f} s; profile {profile}"
        )
        if self.ai_calls_by_identity:
            line += (
                " (AI calls by identity: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.ai_calls_by_identity.items()))
                + ")"
            )
        unseen = [k for k, s in steps.items() if s.get("incomplete") or s.get("kind") in _UNOBSERVED_KINDS]
        if unseen:
            line += (
                f"; WARNING: {len(unseen)} step(s) not observed (AI service failure, daily limit, throttling, budget)"
            )
        if self.left_open:
            line += f"; {len(self.left_open)} conversation(s) could not be ended: {self.left_open}"
        return line


def take_snapshot(
    target_path: str | None,
    seed: int | None = None,
    *,
    max_llm_calls: int | None = None,
    rate_limit: float | None = None,
    max_creates: int | None = None,
    echo: Echo | None = None,
) -> Snapshot:
    """Run the script against the target (or the embedded mock) and return its snapshot.

    Opening the contract session runs the preflight on a target file (``preflight.py``): a
    refused token, a wrong role or an unknown id is exit 2 in one line before any AI call, never
    a snapshot of refusals that two runs would agree on.
    """
    from canvas_ai_harness.contract.session import ContractSession, Settings

    started = time.monotonic()
    settings = Settings(
        target_path=target_path, seed=seed, max_llm_calls=max_llm_calls, max_creates=max_creates, rate_limit=rate_limit
    )
    session = ContractSession.open(settings)
    try:
        if echo is not None:
            echo(f"will send {cost()}")
        normaliser = Normaliser(session.redactor)
        script = Script(session.client, session.ledger, session.target, normaliser)
        steps = script.run()
    finally:
        session.close()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "harness": __version__,
        "profile": detect_profile(steps),
        "target": target_facts(session.target),
        "steps": steps,
    }
    return Snapshot(
        redact_data(document, session.redactor),
        requests=session.client.sent,
        creates=script.creates,
        ai_calls=session.budget.used,
        throttle_retries=session.client.throttle_retries,
        seconds=time.monotonic() - started,
        left_open=list(session.cleanup.left_open),
        ai_calls_by_identity=dict(script.ai_calls),
    )


def detect_profile(steps: dict[str, Any]) -> str | None:
    """The profile whose end message the student's DELETE answered with, or ``None``."""
    answer = steps.get(PROFILE_STEP, {}).get("answer", {})
    said = answer.get("values", {}).get("message")
    return next((name for name, p in answers.PROFILES.items() if said == p.destroy_message), None)


def target_facts(target: Target) -> dict[str, Any]:
    """What a snapshot says about its target: no token, no port (an embedded mock's changes each run)."""
    facts: dict[str, Any] = {
        "host": "embedded mock" if target.source == "<mock>" else urlsplit(target.base_url).hostname,
        "declared_profile": target.profile,
        "identities": sorted(k for k in (*target.tokens.student_pool, *_OTHERS) if target.tokens.of(k)),
    }
    for name in (
        "course_id",
        "ai_experience_id",
        "course_sis_id",
        "other_ai_experience_id",
        "unpublished_ai_experience_id",
        "deleted_ai_experience_id",
        "other_course_ai_experience_id",
        "feature_disabled_course_id",
        "feature_disabled_ai_experience_id",
    ):
        facts[name] = getattr(target, name)
    return facts


def write_snapshot(snapshot: Snapshot, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(snapshot.document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write it ({exc.strerror}); choose another path") from exc


@dataclass(slots=True)
class Side:
    """One side of a diff: its snapshot and where it came from."""

    label: str
    document: dict[str, Any]
    snapshot: Snapshot | None = None  # when it was taken live for this diff
    secrets: list[str] = field(default_factory=list)  # the live target's tokens, to redact from reports


def read_snapshot(path: Path, text: str | None = None) -> dict[str, Any]:
    """Read and check a snapshot file; ``ConfigError`` naming what is wrong and the fix."""
    if text is None:
        text = _read(path)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: not a snapshot (not JSON: {exc}); take one with 'canvas-ai-harness snapshot'"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigError(f'{path}: JSON but not a canvas-ai-harness snapshot (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise ConfigError(
            f"{path}: snapshot format version {document.get('version')!r}, this harness reads version {VERSION}; "
            "take both snapshots with the same harness version"
        )
    if not isinstance(document.get("steps"), dict):
        raise ConfigError(f"{path}: the snapshot has no steps; take it again")
    return document


def read_side(path: Path, *, seed: int | None = None, echo: Echo | None = None) -> Side:
    """A snapshot file as it is, or a target file snapshotted now (told apart by content)."""
    text = _read(path)
    if text.lstrip().startswith("{"):
        return Side(str(path), read_snapshot(path, text))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"{path}: neither a snapshot (JSON) nor a target file (TOML); give a file written by "
            "'canvas-ai-harness snapshot' or a target file"
        ) from None
    if "base_url" not in data:
        raise ConfigError(f"{path}: TOML without base_url, so not a target file; see README.md, 'Target file'")
    if echo is not None:
        echo(f"taking a snapshot of {path} now")
    secrets = load_target(path).secrets()
    snapshot = take_snapshot(str(path), seed, echo=echo)
    if echo is not None:
        echo(f"{path}: {snapshot.summary()}")
    return Side(f"{path} (live)", snapshot.document, snapshot, secrets)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; give a snapshot file or a target file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
