"""``snapshot`` and ``diff``, in-process through ``cli.main`` against live mocks.

Two snapshots of one Canvas are identical whatever its AI says; ``completed`` against ``ended``
names the profile change and finds every row of the profile table the script can see; every
planted fault the script can see is a breaking difference.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_ai_harness.canvas import routes
from canvas_ai_harness.cli import main
from canvas_ai_harness.config import Tokens, write_target
from canvas_ai_harness.contract.client import ANONYMOUS, INVALID
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from canvas_ai_harness.mock.faults import FAULTS
from canvas_ai_harness.snapshot import diff as diff_module
from canvas_ai_harness.snapshot import script as script_module
from canvas_ai_harness.snapshot.allow import parse_allowances
from canvas_ai_harness.snapshot.normalise import Normaliser
from canvas_ai_harness.snapshot.script import Script
from fixtures.custom_servers import StartCanvas
from fixtures.servers import Canvas

# Faults a faithful-vs-faulty diff finds but, by the definition, does not call breaking.
NOT_BREAKING = {
    "no-length-limit": "a message over 4000 characters now accepted: a newly accepted input, listed as additive",
}


def _snapshot(canvas: Canvas, tmp_path: Path, name: str) -> Path:
    target, out = tmp_path / f"{name}.toml", tmp_path / f"{name}.json"
    write_target(canvas.target, target)
    assert main(["snapshot", "--target", str(target), "--out", str(out)]) == EXIT_OK
    return out


def _diff(tmp_path: Path, before: Path, after: Path, *extra: str) -> tuple[int, dict]:
    reports = tmp_path / "reports"
    code = main(["diff", str(before), str(after), "--report-dir", str(reports), *extra])
    return code, json.loads((reports / "diff-report.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def _no_ci_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("CANVAS_AI_TARGET", raising=False)


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_two_snapshots_of_one_profile_with_different_seeds_are_identical(
    profile: str, start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _snapshot(start_canvas(profile=profile, seed=1), tmp_path, "one")
    two = _snapshot(start_canvas(profile=profile, seed=2), tmp_path, "two")
    assert one.read_bytes() == two.read_bytes()
    code, report = _diff(tmp_path, one, two)
    assert (code, report["differences"], report["profile_change"]) == (EXIT_OK, [], None)
    assert "no difference" in capsys.readouterr().out


def test_the_embedded_mock_snapshots_alike_whatever_its_seed(tmp_path: Path) -> None:
    outs = [tmp_path / f"{seed}.json" for seed in (1, 2)]
    for seed, out in zip((1, 2), outs, strict=True):
        assert main(["snapshot", "--out", str(out), "--seed", str(seed)]) == EXIT_OK
    assert outs[0].read_bytes() == outs[1].read_bytes()
    document = json.loads(outs[0].read_text("utf-8"))
    assert document["profile"] == "completed" and document["target"]["host"] == "embedded mock"
    assert not [key for key, step in document["steps"].items() if "skipped" in step]


def test_a_snapshot_holds_no_token_even_when_canvas_echoes_them(start_canvas: StartCanvas, tmp_path: Path) -> None:
    canvas = start_canvas(faults=frozenset({"token-in-auth-errors"}))
    faithful = _snapshot(start_canvas(), tmp_path, "faithful")
    echoed = _snapshot(canvas, tmp_path, "echoed")
    code, _ = _diff(tmp_path, faithful, echoed)
    assert code == EXIT_FAILED
    written = [echoed, tmp_path / "reports" / "diff-report.json", tmp_path / "reports" / "diff-report.md"]
    for token in canvas.target.secrets():
        for path in written:
            assert token not in path.read_text("utf-8"), path


@pytest.mark.parametrize(("before", "after"), [("completed", "ended"), ("ended", "completed")])
def test_a_profile_change_is_named_with_its_rows_and_nothing_else(
    before: str, after: str, start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _snapshot(start_canvas(profile=before), tmp_path, before)
    two = _snapshot(start_canvas(profile=after, seed=5), tmp_path, after)
    code, report = _diff(tmp_path, one, two)
    change = report["profile_change"]
    assert (change["before"], change["after"]) == (before, after)
    assert set(change["rows"]) == set(diff_module.PROFILE_ROWS)
    for row, found in change["rows"].items():
        assert bool(found) != (row in diff_module.NOT_EXERCISED), row
    assert all(d["profile_row"] for d in report["differences"]), "a difference the profile table does not explain"
    assert (code, report["breaking"], report["not_compared"]) == (EXIT_FAILED, 1, [])
    out = capsys.readouterr().out
    assert f"PROFILE CHANGE {before} -> {after}" in out and "BREAKING" not in out and "ADDITIVE" not in out


# Faults no answer of the script shows, with the reason: none, every planted fault changes one.
UNSEEN: dict[str, str] = {}


def test_every_fault_is_proven_or_listed_with_its_reason() -> None:
    assert not set(NOT_BREAKING) & set(UNSEEN)
    assert set(NOT_BREAKING) | set(UNSEEN) <= set(FAULTS)


@pytest.mark.parametrize(
    ("fault", "profile"),
    [
        pytest.param(name, profile, id=f"{name}-{profile}")
        for name, fault in FAULTS.items()
        if name not in NOT_BREAKING and name not in UNSEEN
        for profile in ([fault.profile] if fault.profile else ["completed", "ended"])
    ],
)
def test_every_planted_fault_the_script_sees_is_a_breaking_difference(
    fault: str, profile: str, start_canvas: StartCanvas, tmp_path: Path
) -> None:
    faithful = _snapshot(start_canvas(profile=profile), tmp_path, "faithful")
    faulty = _snapshot(start_canvas(profile=profile, seed=2, faults=frozenset({fault})), tmp_path, "faulty")
    code, report = _diff(tmp_path, faithful, faulty)
    assert code == EXIT_FAILED
    assert report["profile_change"] is None
    assert any(d["kind"] == "breaking" and not d["profile_row"] for d in report["differences"])


@pytest.mark.parametrize("fault", list(NOT_BREAKING))
def test_a_fault_that_only_accepts_more_is_listed_as_additive(
    fault: str, start_canvas: StartCanvas, tmp_path: Path
) -> None:
    profile = FAULTS[fault].profile or "completed"
    faithful = _snapshot(start_canvas(profile=profile), tmp_path, "faithful")
    faulty = _snapshot(start_canvas(profile=profile, seed=2, faults=frozenset({fault})), tmp_path, "faulty")
    code, report = _diff(tmp_path, faithful, faulty)
    assert code == EXIT_OK
    assert [d["what"] for d in report["differences"]] == ["input now accepted"]


def test_the_faithful_mock_is_quiet_against_itself_in_each_profile(start_canvas: StartCanvas, tmp_path: Path) -> None:
    for profile in ("completed", "ended"):
        one = _snapshot(start_canvas(profile=profile), tmp_path, f"{profile}-1")
        two = _snapshot(start_canvas(profile=profile, seed=9), tmp_path, f"{profile}-2")
        assert _diff(tmp_path, one, two)[0] == EXIT_OK


def test_an_allowed_difference_is_listed_and_not_counted(
    start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faithful = _snapshot(start_canvas(), tmp_path, "faithful")
    faulty = _snapshot(start_canvas(faults=frozenset({"sis-course-404"})), tmp_path, "faulty")
    allow = tmp_path / "allow.toml"
    allow.write_text(
        '[[allow]]\ndifference = "getActiveConversation/sis-course-id:*"\nreason = "we dropped SIS ids"\n', "utf-8"
    )
    code, report = _diff(tmp_path, faithful, faulty, "--allow", str(allow))
    assert (code, report["breaking"]) == (EXIT_OK, 0)
    assert [d["allowed"] for d in report["differences"]] == ["we dropped SIS ids"]
    assert "ALLOWED (1)" in capsys.readouterr().out


def test_an_allowed_profile_change_passes(start_canvas: StartCanvas, tmp_path: Path) -> None:
    completed = _snapshot(start_canvas(profile="completed"), tmp_path, "completed")
    ended = _snapshot(start_canvas(profile="ended"), tmp_path, "ended")
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\ndifference = "profile"\nreason = "planned move to ended"\n', "utf-8")
    code, report = _diff(tmp_path, completed, ended, "--allow", str(allow))
    assert (code, report["profile_change"]["allowed"]) == (EXIT_OK, "planned move to ended")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        pytest.param('[[allow]]\ndiference = "x"\nreason = "r"\n', "did you mean 'difference'", id="misspelt-key"),
        pytest.param('[[allow]]\ndifference = "x"\n', "reason is missing", id="no-reason"),
        pytest.param("allowed = 1\n", "valid keys: allow", id="unknown-top-key"),
        pytest.param("[[allow]\n", "not valid TOML", id="not-toml"),
    ],
)
def test_a_bad_allow_file_is_a_setup_error_naming_the_fix(
    text: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    allow = tmp_path / "allow.toml"
    allow.write_text(text, "utf-8")
    assert main(["diff", "a.json", "b.json", "--allow", str(allow)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param(None, "does not exist", id="missing"),
        pytest.param('{"format": "something-else"}', "not a canvas-ai-harness snapshot", id="other-json"),
        pytest.param(
            '{"format": "canvas-ai-harness-snapshot", "version": 99, "steps": {}}', "version 99", id="version"
        ),
        pytest.param("not json, not toml [", "neither a snapshot", id="garbage"),
        pytest.param('title = "toml"\n', "without base_url", id="toml-not-a-target"),
    ],
)
def test_an_unusable_side_is_a_setup_error(
    content: str | None, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = tmp_path / "side.json"
    if content is not None:
        side.write_text(content, "utf-8")
    assert main(["diff", str(side), str(side)]) == EXIT_USAGE
    assert said in capsys.readouterr().err


def test_a_target_file_on_either_side_is_snapshotted_live(start_canvas: StartCanvas, tmp_path: Path) -> None:
    saved = _snapshot(start_canvas(), tmp_path, "saved")
    live = tmp_path / "live.toml"
    write_target(start_canvas(seed=3).target, live)
    code, report = _diff(tmp_path, saved, live)
    assert (code, report["after"]["source"], report["differences"]) == (EXIT_OK, f"{live} (live)", [])


def test_the_markdown_goes_to_the_github_step_summary_when_set(
    start_canvas: StartCanvas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", "utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    faithful = _snapshot(start_canvas(), tmp_path, "faithful")
    faulty = _snapshot(start_canvas(faults=frozenset({"json-suffix-404"})), tmp_path, "faulty")
    assert main(["diff", str(faithful), str(faulty)]) == EXIT_FAILED
    text = summary.read_text("utf-8")
    assert text.startswith("earlier step\n") and "snapshot diff" in text
    assert "getActiveConversation/trailing-json:status" in text


def test_an_interrupted_snapshot_ends_every_conversation_it_created(
    start_canvas: StartCanvas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canvas = start_canvas()
    target, out = tmp_path / "t.toml", tmp_path / "s.json"
    write_target(canvas.target, target)

    def interrupted(self: Script, cid: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Script, "visibility", interrupted)
    assert main(["snapshot", "--target", str(target), "--out", str(out)]) == EXIT_INTERRUPTED
    conversations = canvas.server.service.store.snapshot()
    assert conversations and not [c for c in conversations if c.active]
    assert not out.exists()


def test_a_failing_ai_service_makes_the_diff_incomplete_never_a_pass(
    start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faithful = _snapshot(start_canvas(), tmp_path, "faithful")
    failing = _snapshot(start_canvas(llm_failure_rate=1.0), tmp_path, "failing")
    code, report = _diff(tmp_path, faithful, failing)
    assert code == EXIT_FAILED and "createConversation/student-creates" in report["unobserved"]
    reasons = dict((n["step"], n["why"]) for n in report["not_compared"])
    assert "AI service failed (503) on the after side" in reasons["createConversation/student-creates"]
    assert "INCOMPLETE" in capsys.readouterr().out


def test_a_step_the_target_file_cannot_run_is_skipped_not_counted(start_canvas: StartCanvas, tmp_path: Path) -> None:
    canvas = start_canvas()
    full = _snapshot(canvas, tmp_path, "full")
    student_only = tmp_path / "student-only.toml"
    write_target(dataclasses.replace(canvas.target, tokens=Tokens(student=canvas.target.tokens.student)), student_only)
    code, report = _diff(tmp_path, full, student_only)
    skipped = {n["step"] for n in report["not_compared"]}
    assert "getConversation/teacher-shows-active" in skipped and "postMessage/other-student-posts" in skipped
    assert (code, report["breaking"], report["unobserved"]) == (EXIT_OK, 0, [])


@given(
    st.dictionaries(st.text(max_size=12), st.recursive(st.none() | st.text() | st.integers(), st.lists, max_leaves=5))
)
@settings(max_examples=60, deadline=None)
def test_any_allow_data_is_accepted_or_refused_in_one_config_error(data: dict) -> None:
    try:
        parse_allowances(data, "allow.toml")
    except ConfigError as exc:
        assert str(exc).startswith("allow.toml")


def test_an_unwritable_out_is_a_setup_error_before_any_request(
    start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = start_canvas()
    target = tmp_path / "t.toml"
    write_target(canvas.target, target)
    blocker = tmp_path / "a-file"
    blocker.write_text("", "utf-8")
    assert main(["snapshot", "--target", str(target), "--out", str(blocker / "s.json")]) == EXIT_USAGE
    assert "--out" in capsys.readouterr().err
    assert canvas.server.service.store.snapshot() == []


def test_the_script_covers_every_route_and_identity(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["snapshot", "--out", str(out)]) == EXIT_OK
    steps = json.loads(out.read_text("utf-8"))["steps"].values()
    assert {step["route"] for step in steps} == {*routes.OPERATIONS, "no-route"}
    identities = {"student", "other_student", "teacher", "outsider", "admin", ANONYMOUS, INVALID}
    assert {step["identity"] for step in steps} == identities
    for operation in (routes.SHOW, routes.POST_MESSAGE, routes.DESTROY):
        seen = {step["identity"] for step in steps if step["route"] == operation}
        assert {"student", "other_student", "outsider", ANONYMOUS, INVALID} <= seen, operation


@pytest.mark.parametrize(
    ("change", "said"),
    [
        pytest.param({"tokens": Tokens(student="not-a-real-token")}, "tokens.student", id="bad-token"),
        pytest.param({"course_id": "999"}, "course_id", id="unknown-course"),
        pytest.param({"ai_experience_id": "999"}, "ai_experience_id", id="unknown-experience"),
    ],
)
def test_a_broken_target_file_is_a_setup_error_before_any_create_the_preflights(
    change: dict, said: str, start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = start_canvas()
    target = tmp_path / "t.toml"
    write_target(dataclasses.replace(canvas.target, **change), target)
    assert main(["snapshot", "--target", str(target), "--out", str(tmp_path / "s.json")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1 and "not-a-real-token" not in err
    assert canvas.server.service.store.snapshot() == []


def test_an_experience_with_other_objectives_is_no_difference(start_canvas: StartCanvas, tmp_path: Path) -> None:
    """Production and staging hold different course data; only Canvas's behaviour is compared."""
    production = _snapshot(start_canvas(), tmp_path, "production")
    staging = start_canvas(seed=4)
    experience = staging.server.service.world.experiences[int(staging.target.ai_experience_id)]
    experience.objectives = (*experience.objectives, "Explain osmosis", "Name two organelles")
    code, report = _diff(tmp_path, production, _snapshot(staging, tmp_path, "staging"))
    assert (code, report["differences"]) == (EXIT_OK, [])


def test_steps_the_ai_service_failed_on_both_sides_are_not_a_pass(start_canvas: StartCanvas, tmp_path: Path) -> None:
    one = _snapshot(start_canvas(llm_failure_rate=1.0), tmp_path, "one")
    two = _snapshot(start_canvas(llm_failure_rate=1.0, seed=2), tmp_path, "two")
    code, report = _diff(tmp_path, one, two)
    assert code == EXIT_FAILED and "createConversation/student-creates" in report["unobserved"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "user_id", "text", "error"]), inner, max_size=3)
    ),
    max_leaves=12,
)


def _shift_ids(value: object, offset: int) -> object:
    if isinstance(value, dict):
        return {
            k: (v + offset if (k == "id" or k.endswith("_id")) and type(v) is int else _shift_ids(v, offset))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shift_ids(v, offset) for v in value]
    return value


@given(_JSON, st.integers(1, 10**12))
@settings(max_examples=150, deadline=None)
def test_the_normal_form_does_not_depend_on_the_ids_canvas_chose(body: object, offset: int) -> None:
    headers = {"content-type": "application/json", "date": "now"}
    one = Normaliser(str).answer(200, headers, json.dumps(body).encode())
    two = Normaliser(str).answer(200, {**headers, "date": "later"}, json.dumps(_shift_ids(body, offset)).encode())
    assert one == two


def test_an_interrupted_live_diff_still_writes_its_reports(
    start_canvas: StartCanvas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canvas = start_canvas()
    saved = _snapshot(canvas, tmp_path, "saved")
    live = tmp_path / "live.toml"
    write_target(canvas.target, live)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    def interrupted(self: Script, cid: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Script, "visibility", interrupted)
    reports = tmp_path / "reports"
    assert main(["diff", str(saved), str(live), "--report-dir", str(reports)]) == EXIT_INTERRUPTED
    assert json.loads((reports / "diff-report.json").read_text("utf-8"))["interrupted"] is True
    page = (reports / "diff-report.html").read_text("utf-8")
    assert "Snapshot diff: INTERRUPTED" in page and f'data-exit-code="{EXIT_INTERRUPTED}"' in page
    assert str(live) in page  # the command line and the sides
    assert "INTERRUPTED" in summary.read_text("utf-8")
    assert not [c for c in canvas.server.service.store.snapshot() if c.active]


def test_the_announced_cost_is_what_a_snapshot_of_a_faithful_canvas_costs(
    start_canvas: StartCanvas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = start_canvas()
    _snapshot(canvas, tmp_path, "s")
    announced, done = capsys.readouterr().err.splitlines()[-2:]
    assert announced == f"snapshot: will send {script_module.cost()}"
    assert f" {script_module.REQUESTS} requests, {script_module.CREATES} creates" in done
    assert f" {sum(script_module.AI_CALLS.values())} AI calls" in done
    by_identity = ", ".join(f"{k} {v}" for k, v in sorted(script_module.AI_CALLS.items()))
    assert f"(AI calls by identity: {by_identity})" in done


def test_a_snapshot_beyond_its_create_budget_records_what_it_could_not_run(tmp_path: Path) -> None:
    full, short = tmp_path / "full.json", tmp_path / "short.json"
    assert main(["snapshot", "--out", str(full)]) == EXIT_OK
    assert main(["snapshot", "--out", str(short), "--max-creates", "1"]) == EXIT_OK
    steps = json.loads(short.read_text("utf-8"))["steps"]
    assert "skipped" not in steps["createConversation/student-creates"]
    assert steps["createConversation/student-creates-again"]["incomplete"] is True
    assert "needs the conversation" in steps["getConversation/teacher-shows-replaced"]["skipped"]
    code, report = _diff(tmp_path, full, short)
    assert (
        code == EXIT_FAILED
        and report["breaking"] == 0
        and "createConversation/other-student-creates" in report["unobserved"]
    )
