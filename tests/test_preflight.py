"""The preflight: a broken setup is exit 2 with one line naming the field, in seconds, before any AI call.

Each finding of issue 10 ("a broken setup reads as a broken Canvas") is planted in the target file
of a faithful mock and run through the CLI in-process; the mock's call log proves that no AI call
(create, post_message) was made. The faithful target passes the preflight without a word.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import Target, write_target
from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.mock.world import OTHER_STUDENT_TOKEN, OUTSIDER_TOKEN, STUDENT_TOKEN, TEACHER_TOKEN
from fixtures.servers import Canvas

REVOKED = "revoked-token-0000"


def _tokens(**tokens: str) -> Callable[[Target], Target]:
    return lambda t: dataclasses.replace(t, tokens=dataclasses.replace(t.tokens, **tokens))


def _students(*tokens: str) -> Callable[[Target], Target]:
    return lambda t: dataclasses.replace(t, tokens=dataclasses.replace(t.tokens, outsider=None, students=tokens))


def _fields(**values: str) -> Callable[[Target], Target]:
    return lambda t: dataclasses.replace(t, **values)


def _under(path: str) -> Callable[[Target], Target]:
    return lambda t: dataclasses.replace(t, base_url=t.base_url + path)


BROKEN_SETUPS = [
    pytest.param(_tokens(student=REVOKED), "tokens.student", "refused", id="revoked-student-token"),
    pytest.param(_tokens(admin=REVOKED), "tokens.admin", "refused", id="revoked-admin-token"),
    pytest.param(_tokens(teacher=OTHER_STUDENT_TOKEN), "tokens.teacher", "not a teacher", id="teacher-is-a-student"),
    pytest.param(_tokens(student=TEACHER_TOKEN), "tokens.student", "is a teacher", id="student-is-a-teacher"),
    pytest.param(_tokens(outsider=OTHER_STUDENT_TOKEN), "tokens.outsider", "is a member", id="outsider-is-enrolled"),
    pytest.param(_tokens(student=OUTSIDER_TOKEN), "tokens.student", "not enrolled", id="student-not-enrolled"),
    pytest.param(_tokens(other_student=STUDENT_TOKEN), "tokens.other_student", "same user", id="one-student-twice"),
    pytest.param(_tokens(admin=TEACHER_TOKEN), "tokens.admin", "may not act as", id="admin-cannot-masquerade"),
    pytest.param(_students(REVOKED), "tokens.students[0]", "refused", id="revoked-token-in-students"),
    pytest.param(_students(OUTSIDER_TOKEN), "tokens.students[0]", "not enrolled", id="students-lists-an-outsider"),
    pytest.param(_under("/api/v1"), "base_url", "ends in /api/v1", id="api-v1-in-base-url"),
    pytest.param(_under("/canvas"), "base_url", "'/canvas' is the likely mistake", id="path-in-base-url"),
    pytest.param(_fields(course_id="999"), "course_id 999", "no such course", id="unknown-course"),
    pytest.param(_fields(ai_experience_id="999"), "ai_experience_id 999", "not an experience", id="unknown-experience"),
    pytest.param(
        _fields(course_id="303", ai_experience_id="30"), "course_id 303", "feature off", id="flag-off-main-course"
    ),
    pytest.param(
        _fields(other_ai_experience_id="20"), "other_ai_experience_id 20", "not an experience", id="other-experience"
    ),
    pytest.param(_fields(course_sis_id="CHEM-202-F26"), "course_sis_id", "names course 202", id="sis-of-another"),
    pytest.param(_fields(course_sis_id="NO-SUCH"), "course_sis_id", "no course", id="unknown-sis-id"),
    pytest.param(
        _fields(feature_disabled_course_id="404"), "feature_disabled_course_id 404", "no such course", id="unknown-fdc"
    ),
]


def _ai_calls(server: MockServer) -> int:
    """Creates and post_messages the mock answered: the preflight must make none."""
    return sum(1 for call in server.service.calls if call.method == "POST")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, [line for line in (captured.out + captured.err).splitlines() if line.strip()]


def _write(target: Target, tmp_path: Path) -> str:
    path = tmp_path / "target.toml"
    write_target(target, path)
    return str(path)


def _assert_one_line_naming(lines: list[str], field: str, words: str) -> None:
    errors = [line for line in lines if line.startswith("canvas-ai-harness: error:")]
    assert len(errors) == 1, lines
    assert field in errors[0] and words in errors[0], errors[0]
    assert not any("Traceback" in line for line in lines)
    assert not any(token in "\n".join(lines) for token in (STUDENT_TOKEN, TEACHER_TOKEN, OTHER_STUDENT_TOKEN))


@pytest.mark.parametrize(("bend", "field", "words"), BROKEN_SETUPS)
def test_contract_refuses_a_broken_setup_in_one_line_before_any_ai_call(
    canvas_completed: Canvas,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bend: Callable[[Target], Target],
    field: str,
    words: str,
) -> None:
    target = _write(bend(canvas_completed.target), tmp_path)
    code, lines = _run(["contract", "--target", target, "--report-dir", str(tmp_path / "r")], capsys)
    assert code == 2
    _assert_one_line_naming(lines, field, words)
    assert _ai_calls(canvas_completed.server) == 0


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["load", "--users", "2", "--run-time", "5s"], id="load"),
        pytest.param(["check", "--users", "2", "--run-time", "5s"], id="check"),
    ],
)
@pytest.mark.parametrize(
    ("bend", "field", "words"),
    [
        pytest.param(_tokens(student=REVOKED), "tokens.student", "refused", id="revoked-student-token"),
        pytest.param(_tokens(teacher=OTHER_STUDENT_TOKEN), "tokens.teacher", "not a teacher", id="teacher-is-student"),
        pytest.param(_fields(ai_experience_id="999"), "ai_experience_id", "not an experience", id="unknown-experience"),
    ],
)
def test_load_and_check_run_the_preflight_first(
    canvas_completed: Canvas,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    bend: Callable[[Target], Target],
    field: str,
    words: str,
) -> None:
    target = _write(bend(canvas_completed.target), tmp_path)
    code, lines = _run([*command, "--target", target, "--report-dir", str(tmp_path / "r")], capsys)
    assert code == 2
    _assert_one_line_naming(lines, field, words)
    assert _ai_calls(canvas_completed.server) == 0
    assert not any("contract suite: starting" in line or "load run: starting" in line for line in lines)


def test_every_unset_variable_is_named_at_once(
    canvas_completed: Canvas, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CANVAS_T_STUDENT", "CANVAS_T_TEACHER", "CANVAS_T_COURSE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "target.toml"
    path.write_text(
        f'base_url = "{canvas_completed.server.url}"\ncourse_id = "${{CANVAS_T_COURSE}}"\nai_experience_id = "7"\n'
        '[tokens]\nstudent = "${CANVAS_T_STUDENT}"\nteacher = "${CANVAS_T_TEACHER}"\n',
        encoding="utf-8",
    )
    code, lines = _run(["contract", "--target", str(path)], capsys)
    assert code == 2
    _assert_one_line_naming(lines, "${CANVAS_T_COURSE} (course_id)", "3 variables are not set")
    assert "${CANVAS_T_STUDENT} (tokens.student)" in lines[0] and "${CANVAS_T_TEACHER} (tokens.teacher)" in lines[0]
    assert "export CANVAS_T_COURSE, CANVAS_T_STUDENT, CANVAS_T_TEACHER" in lines[0]
    assert list(canvas_completed.server.service.calls) == []


def test_load_against_a_port_nobody_listens_on_is_unreachable_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], canvas_completed: Canvas
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = _write(dataclasses.replace(canvas_completed.target, base_url=f"http://127.0.0.1:{port}"), tmp_path)
    argv = ["load", "--target", target, "--users", "2", "--run-time", "5s", "--report-dir", str(tmp_path / "r")]
    code, lines = _run(argv, capsys)
    assert code == 2
    _assert_one_line_naming(lines, f"127.0.0.1:{port}", "cannot reach the target")
    assert not (tmp_path / "r" / "summary.json").exists()


def test_check_refuses_a_host_it_may_not_load_before_the_contract_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], canvas_completed: Canvas
) -> None:
    staging = dataclasses.replace(canvas_completed.target, base_url="https://canvas-staging.example.invalid")
    target = _write(staging, tmp_path)
    code, lines = _run(["check", "--target", target, "--report-dir", str(tmp_path / "r")], capsys)
    assert code == 2
    _assert_one_line_naming(lines, "canvas-staging.example.invalid", "--allow-host canvas-staging.example.invalid")
    assert not any("contract suite: starting" in line for line in lines)
    assert not (tmp_path / "r" / "contract").exists()


# -- quiet on the faithful mock -------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"profile": "ended"}, {"unauthorized_status": 401}], ids=str)
def test_the_faithful_mock_passes_the_preflight_without_an_ai_call(
    mock_canvas: Callable[..., MockServer], options: dict[str, Any]
) -> None:
    from canvas_ai_harness.preflight import preflight

    server = mock_canvas(**options)
    result = preflight(server.target())
    assert result.requests > 0 and result.line().startswith("preflight: ok")
    assert _ai_calls(server) == 0


def test_the_preflight_leaves_an_identity_with_an_active_conversation_alone(canvas_completed: Canvas) -> None:
    from canvas_ai_harness.preflight import preflight

    canvas_completed.create("student")
    canvas_completed.create("teacher")
    before = _ai_calls(canvas_completed.server)
    preflight(canvas_completed.target)
    assert _ai_calls(canvas_completed.server) == before
    assert canvas_completed.server.service.store.active_count == 2


def test_the_course_route_lists_the_callers_own_enrolments(canvas_completed: Canvas) -> None:
    teacher = canvas_completed.call("GET", "/api/v1/courses/101", "teacher")
    assert teacher.status_code == 200
    assert [(e["type"], e["role"], e["user_id"]) for e in teacher.json()["enrollments"]] == [
        ("teacher", "TeacherEnrollment", 1)
    ]
    by_sis = canvas_completed.call("GET", "/api/v1/courses/sis_course_id:BIO-101-F26", "student")
    assert by_sis.json()["id"] == 101 and by_sis.json()["enrollments"][0]["type"] == "student"
    assert canvas_completed.call("GET", "/api/v1/courses/101", "outsider").status_code == 403
    assert canvas_completed.call("GET", "/api/v1/courses/505", "student").status_code == 404  # deleted
    assert canvas_completed.call("GET", "/api/v1/courses/101", REVOKED).status_code == 401
    assert canvas_completed.call("GET", "/api/v1/courses/101", None).status_code == 401
    assert canvas_completed.call("GET", "/api/v1/courses/101", "admin").json()["enrollments"] == []
    assert canvas_completed.call("POST", "/api/v1/courses/101", "teacher").status_code == 404  # routing


def test_plain_pytest_runs_the_preflight_when_it_opens_the_session(canvas_completed: Canvas, tmp_path: Path) -> None:
    from canvas_ai_harness.contract.session import ContractSession, Settings
    from canvas_ai_harness.errors import SetupError

    target = _write(_tokens(student=REVOKED)(canvas_completed.target), tmp_path)
    with pytest.raises(SetupError, match=r"tokens\.student is refused"):
        ContractSession.open(Settings(target_path=target))
    assert _ai_calls(canvas_completed.server) == 0


def test_a_throttled_answer_is_left_to_the_suites_not_called_a_broken_setup(
    mock_canvas: Callable[..., MockServer],
) -> None:
    from canvas_ai_harness.mock.throttle import ThrottleConfig
    from canvas_ai_harness.preflight import preflight

    # One request's up-front cost fills a bucket: every user's second request is throttled (403 text/plain).
    server = mock_canvas(throttle=ThrottleConfig(capacity=60, outflow=0, upfront=50))
    result = preflight(server.target())
    assert result.line().startswith("preflight: ok")
    assert any(call.status == 403 for call in server.service.calls)  # it did meet throttling
    assert _ai_calls(server) == 0
