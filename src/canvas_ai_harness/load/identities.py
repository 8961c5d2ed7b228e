"""Who the simulated users are: identities, where they come from, and handing each out once.

An ``Identity`` is one Canvas user the load acts as: a token of its own, or an admin token plus
``as_user_id`` (masquerading). Its ``key`` ("user:<id>" or "token:<hash>") names it in reports;
the token never leaves the object's private fields (``repr`` hides it).

Sources: a CSV file (``--students``: a ``token`` or a ``user_id`` column, optional ``role``), the
mock's world (``POST /__harness__/students`` creates as many students as asked), or the target
file's own tokens. ``IdentityPool`` lives in one process (locust's master, or the only process)
and hands out every identity at most once, so two simulated users never share a student, even
across worker processes and machines. ``Seats`` is a process's own share: identities free to
take and those in use; a user returns its identity there when it stops.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_ai_harness.config import Target
from canvas_ai_harness.errors import ConfigError

__all__ = [
    "ROLES",
    "Identity",
    "IdentityPool",
    "Seats",
    "check_distinct",
    "read_identity_csv",
    "target_identities",
]

ROLES = ("student", "teacher")


@dataclass(frozen=True, slots=True)
class Identity:
    """One Canvas user to act as."""

    key: str
    token: str = field(repr=False)
    role: str = "student"
    as_user_id: str | None = None

    @classmethod
    def for_token(cls, token: str, role: str = "student", user_id: str | None = None) -> Identity:
        key = f"user:{user_id}" if user_id else "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        return cls(key, token, role)

    @classmethod
    def masquerading(cls, admin_token: str, user_id: str, role: str = "student") -> Identity:
        return cls(f"user:{user_id}", admin_token, role, user_id)

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"

    @property
    def params(self) -> dict[str, str]:
        """Query parameters every request of this identity carries."""
        return {"as_user_id": self.as_user_id} if self.as_user_id else {}

    def to_wire(self) -> list[Any]:
        return [self.key, self.token, self.role, self.as_user_id]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Identity:
        key, token, role, as_user_id = data
        return cls(str(key), str(token), str(role), None if as_user_id is None else str(as_user_id))


def read_identity_csv(path: Path, admin_token: str | None, teacher_token: str | None = None) -> list[Identity]:
    """Read ``--students``: a header row with ``token`` or ``user_id`` (and optionally ``role``).

    Rows with a ``user_id`` and no token masquerade through the target's admin token. Each
    Canvas user once: a token twice (whatever its ``user_id``) or a user id twice (by token or
    masquerading) is refused, and so is a student row with the target's teacher token
    (``teacher_token``), which the run's teacher would act as at the same time.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"--students {path}: no such file; give a CSV with a 'token' or 'user_id' column") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--students {path}: cannot read it: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "token" not in columns and "user_id" not in columns:
        raise ConfigError(
            f"--students {path}: the first row must name a 'token' or 'user_id' column (found: {', '.join(columns)})"
        )
    identities: list[Identity] = []
    seen: dict[str, int] = {}  # what makes an identity (its token, its user id) -> the line it was on
    for line, row in enumerate(reader, start=2):
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        token, user_id, role = cells.get("token", ""), cells.get("user_id", ""), cells.get("role", "") or "student"
        if not token and not user_id:
            continue
        if role not in ROLES:
            raise ConfigError(f"--students {path}, line {line}: role {role!r} is not one of {', '.join(ROLES)}")
        if token:
            identity = Identity.for_token(token, role, user_id or None)
        elif admin_token is None:
            raise ConfigError(
                f"--students {path}, line {line}: a user_id without a token needs an admin token "
                "(tokens.admin in the target file) to masquerade with as_user_id"
            )
        else:
            identity = Identity.masquerading(admin_token, user_id, role)
        if token and token == teacher_token and role == "student":
            raise ConfigError(
                f"--students {path}, line {line}: this token is the target's teacher token (tokens.teacher), which "
                "the run's teacher acts as; give the student its own token, or mark the row role=teacher"
            )
        for mark, shown in _marks(token, user_id, identity.key):
            if mark in seen:
                raise ConfigError(
                    f"--students {path}, line {line}: {shown} is already on line {seen[mark]}; each user once"
                )
            seen[mark] = line
        identities.append(identity)
    if not identities:
        raise ConfigError(f"--students {path}: no identities in it")
    return identities


def _marks(token: str, user_id: str, key: str) -> list[tuple[str, str]]:
    """What two rows must not share: the token (named by its hash only) and the Canvas user id."""
    marks = []
    if token:
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        marks.append((f"token:{digest}", f"the same token (token:{digest})"))
    if user_id:
        marks.append((f"user:{user_id}", f"user_id {user_id}"))
    return marks or [(key, key)]


def check_distinct(identities: list[Identity], where: str) -> None:
    """Refuse two identities that are one Canvas user (say, a target whose teacher token is its student's).

    Two simulated users would act as that user at once, and the second could not start.
    """
    seen: dict[str, str] = {}
    for identity in identities:
        mark = "token:" + hashlib.sha256(identity.token.encode()).hexdigest()[:16]
        mark = f"user:{identity.as_user_id}" if identity.as_user_id else mark
        if mark in seen:
            raise ConfigError(
                f"{where}: the {seen[mark]} and a {identity.role} are the same Canvas user ({mark}); "
                "give each role its own token"
            )
        seen[mark] = identity.role


def target_identities(target: Target) -> list[Identity]:
    """The identities a target file names itself: its student(s) and its teacher."""
    tokens = target.tokens
    found = [Identity.for_token(t) for t in (tokens.student, tokens.other_student) if t]
    if tokens.teacher:
        found.append(Identity.for_token(tokens.teacher, "teacher"))
    return found


CreateStudents = Callable[[int], list[Identity]]


class IdentityPool:
    """Hands out each identity at most once (one pool per run, in one process).

    ``fixed`` identities are handed out first; ``create_students`` (the mock's world) makes more
    students on demand, at least ``batch`` at a time.
    """

    def __init__(self, fixed: list[Identity], create_students: CreateStudents | None = None, batch: int = 200) -> None:
        self._queues: dict[str, Iterator[Identity]] = {
            role: iter([i for i in fixed if i.role == role]) for role in ROLES
        }
        self._create = create_students
        self._batch = batch
        self._spare: list[Identity] = []
        self.handed_out: set[str] = set()
        self.source = "mock-world" if create_students else "fixed"

    def take(self, role: str, count: int) -> list[Identity]:
        """Up to ``count`` identities of ``role`` never handed out before (fewer when the source runs dry)."""
        out = list(itertools.islice(self._queues[role], count))
        if role == "student" and self._create is not None and len(out) < count:
            missing = count - len(out)
            if len(self._spare) < missing:
                self._spare += self._create(max(missing - len(self._spare), self._batch))
            out += self._spare[:missing]
            del self._spare[:missing]
        for identity in out:
            if identity.key in self.handed_out:  # a source repeating itself must not share a student
                raise RuntimeError(f"identity {identity.key} was about to be handed out twice")
            self.handed_out.add(identity.key)
        return out


class Seats:
    """One process's identities: free ones to take, and the ones its users hold."""

    def __init__(self) -> None:
        self.free: dict[str, list[Identity]] = {role: [] for role in ROLES}
        self.in_use: set[str] = set()
        self.used: set[str] = set()  # every key a user of this process acted as (reported for overlap checks)

    def add(self, identities: list[Identity]) -> None:
        for identity in identities:
            self.free[identity.role].append(identity)

    def take(self, role: str) -> Identity | None:
        free = self.free[role]
        if not free:
            return None
        identity = free.pop()
        if identity.key in self.in_use:
            raise RuntimeError(f"identity {identity.key} is already in use by another simulated user")
        self.in_use.add(identity.key)
        self.used.add(identity.key)
        return identity

    def give_back(self, identity: Identity) -> None:
        if identity.key in self.in_use:
            self.in_use.discard(identity.key)
            self.free[identity.role].append(identity)
