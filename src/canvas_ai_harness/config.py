"""The target file: how to reach a Canvas (or the mock) and which identities to use.

A target is a TOML file (format in README.md). String values may hold ``${ENV_VAR}``
placeholders so that tokens stay out of files. ``load_target`` validates everything and
raises ``ConfigError`` naming the key, what is wrong, and the fix; an unknown key gets a
"did you mean" and the list of valid keys. ``Target.secrets()`` lists what must be redacted.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from canvas_ai_harness.canvas.answers import PROFILES
from canvas_ai_harness.canvas.requests import parse_id, sis_course_id
from canvas_ai_harness.canvas.routes import conversations_path
from canvas_ai_harness.errors import ConfigError

__all__ = [
    "PLACEHOLDER_VARIABLES",
    "PROFILE_CHOICES",
    "Target",
    "Tokens",
    "load_target",
    "parse_target",
    "placeholder_target",
    "write_target",
]

PROFILE_CHOICES = tuple(PROFILES)
TARGET_ENV = "CANVAS_AI_TARGET"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(slots=True, frozen=True)
class Tokens:
    """The target's identities. ``students``: more students of the course, to spread a run's creates over.

    The students are the identities ``student``, ``student_2``, ``student_3``... (``student_pool``).
    """

    student: str
    other_student: str | None = None
    teacher: str | None = None
    outsider: str | None = None
    admin: str | None = None
    students: tuple[str, ...] = ()

    @property
    def student_pool(self) -> tuple[str, ...]:
        """The identities of every student a run may act as (``student`` first)."""
        return ("student", *(f"student_{n}" for n in range(2, len(self.students) + 2)))

    def of(self, identity: str) -> str | None:
        """The token of an identity (``student_2``: the first of ``students``); ``None`` when absent."""
        if identity in self.student_pool[1:]:
            return self.students[int(identity.removeprefix("student_")) - 2]
        if identity in _TOKEN_KEYS and identity != "students":
            value: str | None = getattr(self, identity)
            return value
        return None

    def key(self, identity: str) -> str:
        """Where the target file gives an identity's token: ``tokens.teacher``, ``tokens.students[0]``..."""
        if identity in self.student_pool[1:]:
            return f"tokens.students[{int(identity.removeprefix('student_')) - 2}]"
        return f"tokens.{identity}"

    def all(self) -> list[str]:
        return [t for t in (self.student, self.other_student, self.teacher, self.outsider, self.admin) if t] + list(
            self.students
        )


@dataclass(slots=True, frozen=True)
class Target:
    """A validated target file. Optional fields are ``None`` when absent."""

    base_url: str
    course_id: str
    ai_experience_id: str
    tokens: Tokens
    profile: str = "completed"
    course_sis_id: str | None = None
    other_ai_experience_id: str | None = None
    unpublished_ai_experience_id: str | None = None
    deleted_ai_experience_id: str | None = None
    other_course_ai_experience_id: str | None = None
    feature_disabled_course_id: str | None = None
    feature_disabled_ai_experience_id: str | None = None
    source: str = field(default="<memory>", compare=False)
    # identity -> the environment variable its token came from (tokens.student = "${CANVAS_STUDENT_TOKEN}"),
    # so that a curl line can read the same variable
    token_vars: Mapping[str, str] = field(default_factory=dict, compare=False)

    def secrets(self) -> list[str]:
        """Every token in the target: these never appear in output, logs or reports."""
        return self.tokens.all()

    def path(
        self,
        conversation: int | str | None = None,
        *,
        messages: bool = False,
        course: str | None = None,
        experience: str | None = None,
    ) -> str:
        """The path of a conversations route; the target's course and experience unless given."""
        return conversations_path(
            course or self.course_id, experience or self.ai_experience_id, conversation, messages=messages
        )

    def is_local(self) -> bool:
        host = urlsplit(self.base_url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")


_TOP_KEYS = [f.name for f in fields(Target) if f.name not in ("tokens", "source", "token_vars")] + ["tokens"]
_TOKEN_KEYS = [f.name for f in fields(Tokens)]
_REQUIRED = ("base_url", "course_id", "ai_experience_id")


def unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    """The error for a key no file of ours takes: the closest valid key, and the list of them."""
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")


def read_toml(path: Path, name: str, missing: str) -> dict[str, Any]:
    """The TOML file at ``path`` (``name`` in messages), or a ``ConfigError`` saying what to do.

    ``missing`` is the fix when the file does not exist ("write one (README.md, ...)").
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name} does not exist; {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _expand(value: str, key: str, where: str, env: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{where}: {key} refers to ${{{name}}}, which is not set; export {name} or write the value"
            )
        return env[name]

    return _PLACEHOLDER.sub(sub, value)


def _string(raw: Any, key: str, where: str, env: Mapping[str, str]) -> str:
    # An int longer than TOML's 64 bits can only come from code, and str() may refuse to print it.
    if isinstance(raw, bool) or not isinstance(raw, str | int) or (isinstance(raw, int) and raw.bit_length() > 64):
        raise ConfigError(f'{where}: {key} must be a string, got {type(raw).__name__}; write {key} = "..."')
    value = _expand(str(raw), key, where, env).strip()
    if not value:
        raise ConfigError(f"{where}: {key} is empty; give it a value or remove the line")
    return value


def _unset_variables(data: Mapping[str, Any], env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every ``${NAME}`` of the file that ``env`` lacks, with the key that refers to it, in file order."""
    items: list[tuple[str, Any]] = [(k, v) for k, v in data.items() if k != "tokens"]
    tokens = data.get("tokens")
    if isinstance(tokens, Mapping):
        items += [(f"tokens.{k}", v) for k, v in tokens.items()]
    return [
        (key, name)
        for key, value in items
        if isinstance(value, str)
        for name in _PLACEHOLDER.findall(value)
        if name not in env
    ]


def parse_target(data: Mapping[str, Any], source: str = "<memory>", env: Mapping[str, str] | None = None) -> Target:
    """Validate target data already parsed from TOML (or built in code)."""
    env = os.environ if env is None else env
    where = source
    for key in data:
        if key not in _TOP_KEYS:
            raise unknown_key(key, _TOP_KEYS, where)
    unset = _unset_variables(data, env)
    names = list(dict.fromkeys(name for _, name in unset))
    if len(names) > 1:  # all at once: a user should not discover them one run at a time
        refs = ", ".join(f"${{{name}}} ({key})" for key, name in unset)
        raise ConfigError(
            f"{where}: {len(names)} variables are not set: {refs}; export {', '.join(names)} or write the values"
        )
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(
                f"{where}: missing required key {key!r}; add {key} = \"...\" (see README.md, 'Target file')"
            )
    values: dict[str, Any] = {}
    for key in _TOP_KEYS:
        if key == "tokens" or key not in data:
            continue
        values[key] = _string(data[key], key, where, env)

    try:
        url = urlsplit(values["base_url"])
        valid_url = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # an unclosed IPv6 bracket, a port out of range...
        valid_url = False
    if not valid_url:
        raise ConfigError(
            f"{where}: base_url {values['base_url']!r} must be an http(s) URL such as http://127.0.0.1:8080"
        )
    values["base_url"] = values["base_url"].rstrip("/")
    if values.get("profile", "completed") not in PROFILE_CHOICES:
        raise ConfigError(f"{where}: profile {values['profile']!r} is not one of {', '.join(PROFILE_CHOICES)}")
    for key, value in values.items():
        if key.endswith("course_id") and not sis_course_id(value) and parse_id(value) is None:
            raise ConfigError(f"{where}: {key} {value!r} must be a numeric id or sis_course_id:<sis id>")
        if key.endswith("ai_experience_id") and parse_id(value) is None:
            raise ConfigError(f"{where}: {key} {value!r} must be a numeric id")

    tokens_raw = data.get("tokens")
    if not isinstance(tokens_raw, Mapping):
        raise ConfigError(
            f'{where}: missing [tokens] table; add [tokens] with at least student = "${{CANVAS_STUDENT_TOKEN}}"'
        )
    for key in tokens_raw:
        if key not in _TOKEN_KEYS:
            raise unknown_key(key, _TOKEN_KEYS, f"{where} [tokens]")
    students = _students(tokens_raw.get("students", []), where, env)
    if "student" not in tokens_raw and not students:
        raise ConfigError(f'{where}: [tokens] needs student = "..." (a student of course {values["course_id"]})')
    given = {k: _string(v, f"tokens.{k}", where, env) for k, v in tokens_raw.items() if k != "students"}
    if "student" not in given:
        given["student"], students = students[0], students[1:]
    tokens = Tokens(**given, students=tuple(students))
    pool = [tokens.student, *tokens.students]
    if len(set(pool)) < len(pool):
        raise ConfigError(f"{where}: [tokens] students repeats a student's token; list each student once")
    others = {k: v for k, v in given.items() if k != "student"}
    clash = next((k for k, v in others.items() if v in tokens.students), None)
    if clash is not None:
        raise ConfigError(f"{where}: [tokens] {clash} is also listed as a student; give each identity its own user")
    return Target(tokens=tokens, source=source, token_vars=_token_vars(tokens_raw), **values)


def _token_vars(tokens_raw: Mapping[str, Any]) -> dict[str, str]:
    """Each identity whose token is exactly ``${VARIABLE}``, with that variable (for curl lines).

    Identities as the run names them: ``student``, ``student_2`` (the next of ``students``)...
    """
    listed = tokens_raw.get("students", [])
    pool = ([tokens_raw["student"]] if "student" in tokens_raw else []) + (listed if isinstance(listed, list) else [])
    raw = [(k, v) for k, v in tokens_raw.items() if k not in ("student", "students")]
    raw += [("student" if i == 0 else f"student_{i + 1}", v) for i, v in enumerate(pool)]
    found: dict[str, str] = {}
    for identity, value in raw:
        match = _PLACEHOLDER.fullmatch(str(value).strip())
        if match:
            found[identity] = match.group(1)
    return found


def _students(raw: Any, where: str, env: Mapping[str, str]) -> list[str]:
    """``[tokens] students``: a list of more student tokens, each a non-empty string."""
    if not isinstance(raw, list):
        raise ConfigError(
            f'{where}: tokens.students must be a list of tokens; write students = ["${{STUDENT_2_TOKEN}}", ...]'
        )
    return [_string(value, f"tokens.students[{index}]", where, env) for index, value in enumerate(raw)]


def load_target(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Target:
    """Read and validate the target file at ``path``."""
    p = Path(path)
    data = read_toml(
        p,
        f"target file {p}",
        f"write one (README.md, 'Target file') or use 'canvas-ai-harness mock --write-target {p}'",
    )
    return parse_target(data, str(p), env)


def _toml_string(value: str) -> str:
    # JSON's string escapes are a subset of TOML's basic-string escapes once non-ASCII is kept raw.
    # TOML also forbids a raw DEL, which JSON leaves alone.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def write_target(target: Target, path: str | os.PathLike[str]) -> None:
    """Write ``target`` as a TOML target file (every field that is set)."""
    lines = ["# canvas-ai-harness target file (see README.md, 'Target file')"]
    for key in _TOP_KEYS:
        value = getattr(target, key, None)
        if key != "tokens" and value is not None:
            lines.append(f"{key} = {_toml_string(value)}")
    lines += ["", "[tokens]"]
    for key in _TOKEN_KEYS:
        value = getattr(target.tokens, key)
        if key == "students" and value:
            lines.append(f"students = [{', '.join(_toml_string(v) for v in value)}]")
        elif key != "students" and value is not None:
            lines.append(f"{key} = {_toml_string(value)}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# The environment variables a placeholder target file reads (CI: secrets for tokens, variables for the rest).
PLACEHOLDER_VARIABLES: dict[str, str] = {
    "base_url": "CANVAS_BASE_URL",
    "course_id": "CANVAS_COURSE_ID",
    "ai_experience_id": "CANVAS_EXPERIENCE_ID",
    "tokens.student": "CANVAS_STUDENT_TOKEN",
    "tokens.other_student": "CANVAS_OTHER_STUDENT_TOKEN",
    "tokens.teacher": "CANVAS_TEACHER_TOKEN",
    "tokens.outsider": "CANVAS_OUTSIDER_TOKEN",
    "tokens.admin": "CANVAS_ADMIN_TOKEN",
}


def placeholder_target(profile: str = "completed") -> str:
    """A target file for a real Canvas: every value a ``${VARIABLE}``, with what to put there.

    Nothing in it is the mock's: no token, no id. The same file serves production and staging,
    each CI job setting the variables (tokens from secrets) for the Canvas it tests.
    """
    v = {key: "${" + name + "}" for key, name in PLACEHOLDER_VARIABLES.items()}
    return f"""\
# canvas-ai-harness target file for a real Canvas (README.md, 'Target file' and 'CI').
# Every value is read from an environment variable when the file is loaded: keep tokens in
# your CI's secrets, never in this file. A variable that is not set is an error naming it.

# The Canvas to test, e.g. https://canvas.example.edu (production) or
# https://canvas.beta.example.edu (staging): the same file serves both, one job each.
base_url = "{v["base_url"]}"
# A course whose ai_experiences feature is on: its numeric id (in the course's URL,
# /courses/<id>) or sis_course_id:<its SIS id>.
course_id = "{v["course_id"]}"
# An AI experience of that course: /courses/<course>/ai_experiences/<id>.
ai_experience_id = "{v["ai_experience_id"]}"
# completed, or ended for Canvases whose destroy answers "Conversation ended successfully"
# (contract --profile auto asks the Canvas).
profile = "{profile}"

# Optional: each field unlocks more checks; without it they are skipped, one line each.
# course_sis_id = "BIO-101-F26"               # the course's SIS id
# other_ai_experience_id = "8"                # another experience of the same course
# unpublished_ai_experience_id = "9"          # an unpublished experience of the course
# deleted_ai_experience_id = "10"             # a deleted experience of the course
# other_course_ai_experience_id = "20"        # an experience of another course
# feature_disabled_course_id = "303"          # a course with ai_experiences off...
# feature_disabled_ai_experience_id = "30"    # ...and an experience in it

[tokens]
# Access tokens (Canvas: Account > Settings > New access token) of test users, never real ones.
student = "{v["tokens.student"]}"                # a student of the course (required)
other_student = "{v["tokens.other_student"]}"    # a second student of the course
teacher = "{v["tokens.teacher"]}"                # a teacher of the course
outsider = "{v["tokens.outsider"]}"              # a user who is not in the course
# admin = "{v["tokens.admin"]}"                  # may masquerade (as_user_id); optional
# More students of the course: a run spreads its creates over them (Canvas's daily AI limits are
# per user), so that several runs a day fit.
# students = ["${{CANVAS_STUDENT_2_TOKEN}}", "${{CANVAS_STUDENT_3_TOKEN}}"]
"""
