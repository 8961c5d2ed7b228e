"""Target files: loading, validation with helpful messages, writing, and no internal error on any input."""

from __future__ import annotations

import contextlib
import dataclasses
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvas_ai_harness import ConfigError, Target, Tokens, load_target, parse_target, write_target
from canvas_ai_harness.mock import default_target
from fixtures.generation import SLOW_OK

MINIMAL = """\
base_url = "https://canvas.example.edu"
course_id = "101"
ai_experience_id = "7"

[tokens]
student = "s3cret"
"""

FULL = """\
base_url = "http://127.0.0.1:8080/"
course_id = "sis_course_id:BIO-101-F26"
ai_experience_id = 7
profile = "ended"
course_sis_id = "BIO-101-F26"
other_ai_experience_id = "8"
unpublished_ai_experience_id = "9"
deleted_ai_experience_id = "10"
other_course_ai_experience_id = "20"
feature_disabled_course_id = 303
feature_disabled_ai_experience_id = "30"

[tokens]
student = "${CANVAS_STUDENT_TOKEN}"
other_student = "other"
teacher = "teacher-${SUFFIX}"
outsider = "outsider"
admin = "admin"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "base_url": "https://canvas.example.edu",
        "course_id": "101",
        "ai_experience_id": "7",
        "tokens": {"student": "s3cret"},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_minimal_target_loads_with_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    target = load_target(path, env={})
    assert target == Target(
        base_url="https://canvas.example.edu", course_id="101", ai_experience_id="7", tokens=Tokens(student="s3cret")
    )
    assert target.profile == "completed" and target.other_ai_experience_id is None
    assert target.source == str(path)


def test_every_optional_field_loads_and_placeholders_expand(tmp_path: Path) -> None:
    env = {"CANVAS_STUDENT_TOKEN": "from-env", "SUFFIX": "42"}
    target = load_target(_write(tmp_path, FULL), env=env)
    assert target.base_url == "http://127.0.0.1:8080"  # trailing slash dropped
    assert (target.course_id, target.ai_experience_id, target.profile) == ("sis_course_id:BIO-101-F26", "7", "ended")
    assert (target.course_sis_id, target.feature_disabled_course_id) == ("BIO-101-F26", "303")
    assert target.tokens == Tokens("from-env", "other", "teacher-42", "outsider", "admin")
    assert sorted(target.secrets()) == sorted(["from-env", "other", "teacher-42", "outsider", "admin"])
    assert target.is_local()


def test_placeholders_read_the_process_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVAS_STUDENT_TOKEN", "exported")
    text = MINIMAL.replace('"s3cret"', '"${CANVAS_STUDENT_TOKEN}"')
    assert load_target(_write(tmp_path, text)).tokens.student == "exported"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            _minimal(tokens={"student": "${NOT_SET_ANYWHERE}"}),
            r"\$\{NOT_SET_ANYWHERE\}.*export NOT_SET_ANYWHERE",
            id="missing-env-var",
        ),
        pytest.param(
            _minimal(course_idd="101"),
            r"unknown key 'course_idd' \(did you mean 'course_id'\?\); valid keys: base_url,",
            id="unknown-key",
        ),
        pytest.param(
            _minimal(colour="red"), r"unknown key 'colour'; valid keys: .*tokens", id="unknown-key-no-close-match"
        ),
        pytest.param(
            _minimal(tokens={"student": "s", "techer": "t"}),
            r"\[tokens\]: unknown key 'techer' \(did you mean 'teacher'\?\)",
            id="unknown-tokens-key",
        ),
        pytest.param(_minimal(base_url=None), r"missing required key 'base_url'", id="missing-base-url"),
        pytest.param(_minimal(course_id=None), r"missing required key 'course_id'", id="missing-course-id"),
        pytest.param(
            _minimal(ai_experience_id=None), r"missing required key 'ai_experience_id'", id="missing-experience-id"
        ),
        pytest.param(_minimal(tokens=None), r"missing \[tokens\] table", id="missing-tokens"),
        pytest.param(_minimal(tokens="s3cret"), r"missing \[tokens\] table", id="tokens-not-a-table"),
        pytest.param(_minimal(tokens={"teacher": "t"}), r"\[tokens\] needs student", id="missing-student-token"),
        pytest.param(_minimal(profile="newest"), r"profile 'newest' is not one of completed, ended", id="bad-profile"),
        pytest.param(_minimal(base_url="ftp://canvas.example.edu"), r"must be an http\(s\) URL", id="ftp-url"),
        pytest.param(_minimal(base_url="canvas.example.edu"), r"must be an http\(s\) URL", id="no-scheme"),
        pytest.param(_minimal(base_url="https://"), r"must be an http\(s\) URL", id="no-host"),
        pytest.param(_minimal(base_url="http://[::1"), r"must be an http\(s\) URL", id="unclosed-ipv6"),
        pytest.param(_minimal(base_url="http://canvas:99999"), r"must be an http\(s\) URL", id="port-out-of-range"),
        pytest.param(
            _minimal(course_id="bio"),
            r"course_id 'bio' must be a numeric id or sis_course_id:<sis id>",
            id="course-id-word",
        ),
        pytest.param(_minimal(course_id="sis_course_id:"), r"course_id 'sis_course_id:' must be", id="empty-sis-id"),
        pytest.param(
            _minimal(feature_disabled_course_id="-3"),
            r"feature_disabled_course_id '-3' must be",
            id="negative-course-id",
        ),
        pytest.param(
            _minimal(ai_experience_id="7a"), r"ai_experience_id '7a' must be a numeric id", id="experience-id-word"
        ),
        pytest.param(
            _minimal(other_ai_experience_id="1" * 20),
            r"other_ai_experience_id '1{20}' must be a numeric id",
            id="20-digit-id",
        ),
        pytest.param(_minimal(course_id=True), r"course_id must be a string, got bool", id="bool-id"),
        pytest.param(_minimal(ai_experience_id=7.5), r"ai_experience_id must be a string, got float", id="float-id"),
        pytest.param(_minimal(course_id=10**5000), r"course_id must be a string, got int", id="huge-int-id"),
        pytest.param(_minimal(base_url="   "), r"base_url is empty", id="blank-value"),
        pytest.param(
            _minimal(tokens={"student": ["a"]}), r"tokens.student must be a string, got list", id="token-not-a-string"
        ),
    ],
)
def test_invalid_target_names_the_problem(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as raised:
        parse_target(data, source="t.toml", env={})
    assert str(raised.value).startswith("t.toml")
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("base_url = ", "not valid TOML", id="not-toml"),
        pytest.param("[tokens\nstudent = 1", "not valid TOML", id="broken-table"),
        pytest.param("just some words", "not valid TOML", id="prose"),
    ],
)
def test_file_that_is_not_toml_is_a_config_error(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as raised:
        load_target(path, env={})
    assert str(path) in str(raised.value)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*--write-target"):
        load_target(tmp_path / "nowhere.toml")


@pytest.mark.parametrize("make", [pytest.param("directory", id="directory"), pytest.param("latin-1", id="not-utf8")])
def test_unreadable_file_is_a_config_error(tmp_path: Path, make: str) -> None:
    path = tmp_path / "target.toml"
    if make == "directory":
        path.mkdir()
    else:
        path.write_bytes(MINIMAL.replace("s3cret", "s\xe9cret").encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read target file"):
        load_target(path)


# -- writing -----------------------------------------------------------------------------------------------


def test_written_mock_target_loads_back_equal(tmp_path: Path) -> None:
    target = default_target("http://127.0.0.1:8080", "ended")
    write_target(target, tmp_path / "t.toml")
    assert load_target(tmp_path / "t.toml", env={}) == target


def test_written_target_keeps_awkward_characters(tmp_path: Path) -> None:
    tokens = Tokens(student='quo"te', other_student="back\\slash", teacher="tab\there", outsider="é🌿", admin="del\x7f")
    target = Target(
        base_url="https://canvas.example.edu", course_id="sis_course_id:Ü #1", ai_experience_id="7", tokens=tokens
    )
    write_target(target, tmp_path / "t.toml")
    assert load_target(tmp_path / "t.toml", env={}) == target


# Values load_target gives back unchanged: no surrounding whitespace (it strips), no "${" (it expands).
_values = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
    lambda v: v == v.strip() and "${" not in v
)


@settings(max_examples=30, deadline=None, suppress_health_check=[*SLOW_OK, HealthCheck.function_scoped_fixture])
@given(
    tokens=st.builds(Tokens, student=_values, other_student=st.none() | _values, teacher=st.none() | _values),
    sis=st.none() | _values,
    course=st.integers(1, 10**18).map(str),
)
def test_any_written_target_loads_back_equal(tmp_path: Path, tokens: Tokens, sis: str | None, course: str) -> None:
    target = Target(
        base_url="http://localhost:8080", course_id=course, ai_experience_id="7", tokens=tokens, course_sis_id=sis
    )
    write_target(target, tmp_path / "t.toml")
    assert load_target(tmp_path / "t.toml", env={}) == target


# -- fuzzing -----------------------------------------------------------------------------------------------

_KEYS = ["base_url", "course_id", "ai_experience_id", "profile", "tokens", "student", "teacher", "course_sis_id"]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["http://[::1", "https://x:0", "${HOME}", "${UNSET_VAR}", "sis_course_id:", "101", "completed"])
)
_values_any = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(string.ascii_letters, max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None)
@given(data=st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=10), _values_any, max_size=8))
def test_parse_target_only_ever_raises_config_error(data: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        parse_target(data, env={"HOME": "/root"})


@settings(max_examples=60, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {
            "base_url": st.text(max_size=30)
            | st.sampled_from(["http://[::1", "http://x:99999", "https://canvas.example.edu"]),
            "course_id": st.text(max_size=10) | st.integers(),
            "ai_experience_id": st.text(max_size=10) | st.integers(),
            "tokens": st.dictionaries(
                st.sampled_from(["student", "teacher", "admin", "stuent"]), st.text(max_size=10), max_size=3
            ),
        }
    )
)
def test_nearly_valid_targets_only_ever_raise_config_error(data: dict[str, Any]) -> None:
    try:
        target = parse_target(data, env={})
    except ConfigError:
        return
    assert target.base_url.startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, "/api/v1/courses/101/ai_experiences/7/conversations", id="collection"),
        pytest.param({"conversation": 5}, "/api/v1/courses/101/ai_experiences/7/conversations/5", id="one"),
        pytest.param(
            {"conversation": 5, "messages": True},
            "/api/v1/courses/101/ai_experiences/7/conversations/5/messages",
            id="messages",
        ),
        pytest.param(
            {"course": "sis_course_id:BIO", "experience": "8"},
            "/api/v1/courses/sis_course_id:BIO/ai_experiences/8/conversations",
            id="other-course-and-experience",
        ),
    ],
)
def test_target_builds_conversation_paths(kwargs: dict[str, object], expected: str) -> None:
    from canvas_ai_harness.mock import default_target

    assert default_target("http://127.0.0.1:1").path(**kwargs) == expected  # type: ignore[arg-type]


# -- more students: a run's creates spread over them ---------------------------------------------------------


def test_a_list_of_students_loads_with_placeholders_and_is_redacted(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(MINIMAL + 'students = ["${STUDENT_B}", "s3cret-c"]\n', encoding="utf-8")

    target = load_target(path, env={"STUDENT_B": "s3cret-b"})

    assert target.tokens.students == ("s3cret-b", "s3cret-c")
    assert target.tokens.student_pool == ("student", "student_2", "student_3")
    assert [target.tokens.of(i) for i in target.tokens.student_pool] == ["s3cret", "s3cret-b", "s3cret-c"]
    assert set(target.secrets()) == {"s3cret", "s3cret-b", "s3cret-c"}


def test_a_list_of_students_alone_names_the_first_student(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(MINIMAL.replace('student = "s3cret"', 'students = ["a", "b"]'), encoding="utf-8")

    target = load_target(path, env={})

    assert (target.tokens.student, target.tokens.students) == ("a", ("b",))


def test_written_students_load_back_equal(tmp_path: Path) -> None:
    base = default_target("http://127.0.0.1:8080")
    target = Target(**_replace_tokens(base, ("mock-b", "mock-c")))
    write_target(target, tmp_path / "t.toml")
    assert load_target(tmp_path / "t.toml", env={}) == target


def _replace_tokens(target: Target, students: tuple[str, ...]) -> dict[str, Any]:
    fields = {f.name: getattr(target, f.name) for f in dataclasses.fields(target) if f.name != "source"}
    return {**fields, "tokens": dataclasses.replace(target.tokens, students=students)}


@pytest.mark.parametrize(
    ("students", "expected"),
    [
        pytest.param('"s3cret-b"', "tokens.students must be a list of tokens", id="not-a-list"),
        pytest.param('["s3cret-b", 7.5]', "tokens.students[1] must be a string", id="not-a-string"),
        pytest.param('["s3cret-b", ""]', "tokens.students[1] is empty", id="empty"),
        pytest.param('["s3cret"]', "students repeats a student's token", id="the-student-again"),
        pytest.param('["s3cret-t"]', "[tokens] teacher is also listed as a student", id="the-teacher"),
    ],
)
def test_a_bad_list_of_students_names_the_problem(tmp_path: Path, students: str, expected: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(MINIMAL + f'teacher = "s3cret-t"\nstudents = {students}\n', encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_target(path, env={})

    assert expected in str(caught.value) and "s3cret" not in str(caught.value).replace(expected, "")


def test_each_student_is_named_where_the_target_file_gives_its_token() -> None:
    tokens = Tokens(student="a", teacher="t", students=("b", "c"))

    assert [tokens.key(i) for i in (*tokens.student_pool, "teacher")] == [
        "tokens.student",
        "tokens.students[0]",
        "tokens.students[1]",
        "tokens.teacher",
    ]
