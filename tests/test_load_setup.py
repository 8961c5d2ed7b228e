"""What a load run is allowed to do and who it acts as: thresholds files, safety, shapes, identities, rules."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas_ai_harness.cli import main
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.load.behaviour import MAX_MESSAGE_CHARS, compose_message, draw_turns, think_seconds
from canvas_ai_harness.load.checks import ResponseChecker
from canvas_ai_harness.load.identities import Identity, IdentityPool, Seats, check_distinct, read_identity_csv
from canvas_ai_harness.load.ledger import Ledger
from canvas_ai_harness.load.plans import ShapePlan
from canvas_ai_harness.load.safety import check_host, host_allowed, parse_duration
from canvas_ai_harness.load.thresholds import load_thresholds, parse_thresholds
from fixtures.custom_servers import StartCanvas
from fixtures.load import QUICK, RunLoad

# -- thresholds files ----------------------------------------------------------------------------


def test_thresholds_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("error_rate = 0.01\nmin_conversations_per_minute = 5\n[p95_ms]\npostMessage = 3000\n")
    thresholds = load_thresholds(path)
    assert thresholds.scalars == {"error_rate": 0.01, "min_conversations_per_minute": 5}
    assert thresholds.latency == {("p95_ms", "postMessage"): 3000}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"error_rat": 0.1}, "unknown key 'error_rat' (did you mean 'error_rate'?)", id="typo"),
        pytest.param({"p95_ms": {"postMesage": 1}}, "did you mean 'postMessage'?", id="route-typo"),
        pytest.param({"error_rate": 5}, "between 0 and 1", id="rate-over-1"),
        pytest.param({"p95_ms": {"postMessage": -1}}, "at least 0", id="negative"),
        pytest.param({"p95_ms": 300}, "must be a table", id="not-a-table"),
        pytest.param({"error_rate": "low"}, "must be a number", id="string"),
    ],
)
def test_bad_thresholds_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_thresholds(data, "t.toml")


def test_cli_refuses_a_bad_thresholds_file_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.toml").write_text("p95 = 3\n")
    code = main(["load", "--thresholds", str(tmp_path / "t.toml"), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown key 'p95'" in err


# -- safety --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("http://127.0.0.1:8080", (), True),
        ("http://127.3.2.1", (), True),
        ("http://localhost:80", (), True),
        ("http://[::1]:8080", (), True),
        ("https://canvas.example.edu", (), False),
        ("http://0.0.0.0:8080", (), False),
        ("http://10.0.0.5", (), False),
        ("https://Canvas.Example.edu", ("canvas.example.edu",), True),
        ("https://canvas.example.edu.evil.com", ("canvas.example.edu",), False),
    ],
)
def test_only_loopback_and_named_hosts_may_be_loaded(url: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert host_allowed(url, allowed) is ok


def test_refusal_says_how_to_allow_a_staging_host() -> None:
    with pytest.raises(ConfigError, match=r"add --allow-host canvas\.example\.edu"):
        check_host("https://canvas.example.edu/", ())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--users", "20000"], "--users 20000 is over the cap of 10000; raise it with --max-users", id="users"
        ),
        pytest.param(["--run-time", "5h"], "--run-time 5h is over the cap of 4h", id="run-time"),
        pytest.param(["--run-time", "soon"], "is not like 30s, 5m, 1h30m", id="bad-duration"),
    ],
)
def test_caps_and_bad_options_are_refused_before_anything_starts(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["load", *args, "--report-dir", str(tmp_path / "r")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2.5s", 2.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# -- refusals before anything is sent ------------------------------------------------------------


def test_identities_are_refused_when_there_are_fewer_than_users(
    start_canvas: StartCanvas, load_run: RunLoad, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = start_canvas()
    (tmp_path / "few.csv").write_text("token\nmock-student-token\nmock-other-student-token\n")
    code, _ = load_run(canvas, *QUICK, "--students", str(tmp_path / "few.csv"))
    assert code == 2
    assert "6 users need 5 student identities" in capsys.readouterr().err
    assert canvas.http.get("/__harness__/stats").json()["calls_recorded"] == 0


def test_refuses_a_non_loopback_host_before_sending_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the refusal must come before any connection or subprocess")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(subprocess, "Popen", no_network)
    target = tmp_path / "staging.toml"
    target.write_text(
        'base_url = "https://canvas-staging.example.edu"\ncourse_id = "1"\nai_experience_id = "2"\n'
        '[tokens]\nstudent = "${NOT_PRINTED}"\n'
    )
    monkeypatch.setenv("NOT_PRINTED", "secret-token-123")
    code = main(["load", "--target", str(target), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to load-test canvas-staging.example.edu" in err
    assert "--allow-host canvas-staging.example.edu" in err
    assert "secret-token-123" not in err
    assert not os.path.exists(tmp_path / "r" / "summary.json")


# -- shapes --------------------------------------------------------------------------------------


def test_steady_holds_its_users_until_the_end() -> None:
    plan = ShapePlan("steady", users=10, spawn_rate=2, run_time=60)
    assert plan.tick(0) == plan.tick(59.9) == (10, 2)
    assert plan.tick(60) is None


def test_ramp_climbs_in_equal_steps() -> None:
    plan = ShapePlan("ramp", users=100, spawn_rate=10, run_time=100, ramp_steps=4)
    assert [plan.tick(t)[0] for t in (0, 25, 50, 99)] == [25, 50, 75, 100]  # type: ignore[index]


def test_spike_jumps_at_once_and_falls_back() -> None:
    plan = ShapePlan("spike", users=50, spawn_rate=5, run_time=100, spike_base=0.2, spike_at=0.5, spike_duration=10)
    assert plan.tick(10) == (10, 5)
    assert plan.tick(55) == (50, 50)
    assert plan.tick(70) == (10, 50)


def test_soak_ramps_up_over_its_ramp_then_holds() -> None:
    plan = ShapePlan("soak", users=600, spawn_rate=1, run_time=3600, soak_ramp=60)
    assert plan.tick(10) == plan.tick(3000) == (600, 10)


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of steady, ramp, spike, soak"):
        ShapePlan("wave")


# -- behaviour -----------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**32))
def test_messages_are_never_blank_nor_over_the_length_limit(seed: int) -> None:
    text = compose_message(random.Random(seed))
    assert text.strip() and len(text) <= MAX_MESSAGE_CHARS


def test_messages_vary_in_length_and_script() -> None:
    rng = random.Random(7)
    texts = [compose_message(rng) for _ in range(500)]
    assert min(map(len, texts)) <= 3 and max(map(len, texts)) >= 300
    assert any(any(ord(c) > 0x3000 for c in t) for t in texts)  # CJK
    assert any(any(0x0600 <= ord(c) <= 0x06FF for c in t) for t in texts)  # Arabic


def test_turns_follow_their_mean_and_cap() -> None:
    rng = random.Random(3)
    turns = [draw_turns(rng, 4.0, 20) for _ in range(5000)]
    assert min(turns) == 1 and max(turns) <= 20
    assert 3.6 < sum(turns) / len(turns) < 4.4


def test_think_time_grows_with_what_is_read_and_typed_and_vanishes_at_scale_0() -> None:
    rng = random.Random(1)
    short = sum(think_seconds(rng, 20, 10, 1.0) for _ in range(200))
    long = sum(think_seconds(rng, 2000, 500, 1.0) for _ in range(200))
    assert long > 10 * short
    assert think_seconds(rng, 2000, 500, 0.0) == 0.0


# -- identities ----------------------------------------------------------------------------------


def test_identity_csv_reads_tokens_and_masquerading_user_ids(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("token,user_id,role\ntok-aaaa,,\n,42,\n,7,teacher\n")
    identities = read_identity_csv(path, admin_token="admin-token")
    assert [(i.role, i.as_user_id) for i in identities] == [("student", None), ("student", "42"), ("teacher", "7")]
    assert identities[1].token == "admin-token" and identities[1].params == {"as_user_id": "42"}
    assert "tok-aaaa" not in repr(identities[0]) and "tok-aaaa" not in identities[0].key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("name\nx\n", "must name a 'token' or 'user_id' column", id="no-column"),
        pytest.param("user_id\n42\n", "needs an admin token", id="masquerade-without-admin"),
        pytest.param("token\nabcd\nabcd\n", "is already on line 2", id="duplicate"),
        # One token with two user ids is still one Canvas user.
        pytest.param("token,user_id\nabcd,1\nabcd,2\n", "the same token .* is already on line 2", id="token-twice"),
        pytest.param("token,user_id\nabcd,1\nefgh,1\n", "user_id 1 is already on line 2", id="user-id-twice"),
        pytest.param("token,role\nabcd,admin\n", "role 'admin' is not one of", id="bad-role"),
        pytest.param("token\n", "no identities", id="empty"),
    ],
)
def test_bad_identity_csv_is_refused(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_identity_csv(path, admin_token=None)


def test_a_student_row_with_the_targets_teacher_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("token\nstudent-tok\nteacher-tok\n")
    with pytest.raises(ConfigError, match="line 3: this token is the target's teacher token") as caught:
        read_identity_csv(path, admin_token=None, teacher_token="teacher-tok")
    assert "teacher-tok" not in str(caught.value)
    path.write_text("token,role\nstudent-tok,student\nteacher-tok,teacher\n")
    assert [i.role for i in read_identity_csv(path, None, "teacher-tok")] == ["student", "teacher"]


def test_a_target_whose_teacher_token_is_its_students_is_refused() -> None:
    # Its teacher user could not start (the student holds that identity): refused before the run.
    same = [Identity.for_token("tok-one"), Identity.for_token("tok-one", "teacher")]
    with pytest.raises(ConfigError, match="the student and a teacher are the same Canvas user") as caught:
        check_distinct(same, "the target file t.toml")
    assert "tok-one" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"same Canvas user \(user:5\)"):
        check_distinct([Identity.masquerading("admin", "5"), Identity.masquerading("admin", "5", "teacher")], "x")
    check_distinct([Identity.for_token("tok-one"), Identity.for_token("tok-two", "teacher")], "x")


def test_pool_hands_out_each_identity_once_and_creates_more_students_on_demand() -> None:
    created = iter(range(1000, 2000))

    def create(n: int) -> list[Identity]:
        return [Identity.for_token(f"tok-{i}", user_id=str(i)) for i in (next(created) for _ in range(n))]

    pool = IdentityPool([Identity.for_token("teacher-tok", "teacher")], create, batch=3)
    first, second = pool.take("student", 2), pool.take("student", 5)
    keys = [i.key for i in first + second]
    assert len(keys) == len(set(keys)) == 7
    assert pool.take("teacher", 2) == [Identity.for_token("teacher-tok", "teacher")]
    assert pool.take("teacher", 1) == []


def test_pool_refuses_a_source_that_repeats_an_identity() -> None:
    pool = IdentityPool([], lambda n: [Identity.for_token("same-token")] * n, batch=1)
    pool.take("student", 1)
    with pytest.raises(RuntimeError, match="handed out twice"):
        pool.take("student", 1)


def test_seats_never_give_one_identity_to_two_users() -> None:
    seats = Seats()
    one = Identity.for_token("tok-one")
    seats.add([one])
    assert seats.take("student") == one
    assert seats.take("student") is None
    seats.add([one])  # a bug elsewhere puts it back while it is still in use
    with pytest.raises(RuntimeError, match="already in use"):
        seats.take("student")
    seats.give_back(one)
    assert seats.used == {one.key}


def test_ledger_keeps_what_clean_up_must_end() -> None:
    ledger, who = Ledger(), Identity.for_token("tok-x")
    ledger.creating(who)
    assert [e.uncertain for e in ledger.to_close()] == [True]  # a create in flight: ask Canvas
    ledger.created(who, 5)
    ledger.active_is(who, 5)
    assert [e.conversation for e in ledger.to_close()] == [5]
    ledger.closed(who, 5)
    assert ledger.to_close() == []
    ledger.active_is(who, 9)  # a conversation the student had before the run: not the run's to end
    assert ledger.to_close() == []


# -- sampled contract checks ---------------------------------------------------------------------

_HEADERS = {"content-type": "application/json; charset=utf-8"}
_PROGRESS = {"current": 0, "total": 1, "percentage": 0, "objectives": [{"objective": "o", "status": ""}]}


def _body(messages: list[tuple[str, str]], **extra: object) -> bytes:
    data = {"id": 1, "messages": [{"role": r, "text": t} for r, t in messages], "progress": _PROGRESS, **extra}
    return json.dumps(data).encode()


_START = [("User", "prompt"), ("Assistant", "question?")]


def test_conforming_responses_pass_the_sampled_check() -> None:
    checker = ResponseChecker()
    assert checker.check("createConversation", 201, _HEADERS, _body(_START)) == []
    after = _body([*_START, ("User", "hi"), ("Assistant", "reply")])
    assert checker.check("postMessage", 200, _HEADERS, after, previous=_body(_START), sent="hi") == []


@pytest.mark.parametrize(
    ("operation", "status", "body", "sent", "message"),
    [
        pytest.param("createConversation", 200, _body(_START), None, "createConversation answered 200", id="status"),
        pytest.param("postMessage", 200, b'{"id": 1}', "hi", "messages", id="schema"),
        pytest.param(
            "postMessage", 200, _body([*_START, ("User", "hi")]), "hi", "grew by 1 messages", id="grew-by-one"
        ),
        pytest.param(
            "postMessage",
            200,
            _body([("User", "prompt"), ("Assistant", "changed"), ("User", "hi"), ("Assistant", "r")]),
            "hi",
            "earlier message 1 changed",
            id="history-rewritten",
        ),
        pytest.param(
            "postMessage", 200, _body([*_START, ("User", "other"), ("Assistant", "r")]), "hi", "not the text", id="text"
        ),
        pytest.param(
            "postMessage",
            200,
            _body([*_START, ("Assistant", "r"), ("User", "hi")]),
            "hi",
            "appended roles",
            id="roles-swapped",
        ),
        pytest.param(
            "getActiveConversation",
            200,
            _body(_START, llm_conversation_id="abc"),
            None,
            "the AI service's id at llm_conversation_id: it must appear in show only",
            id="llm-id-leaked",
        ),
        pytest.param(
            "postMessage",
            200,
            _body([*_START, ("User", "hi"), ("Assistant", "r")]).replace(
                b'"text": "r"}', b'"text": "r", "meta": {"llm_conversation_id": "abc"}}'
            ),
            "hi",
            "the AI service's id at messages[3].meta.llm_conversation_id: it must appear in show only",
            id="llm-id-nested-in-a-message",
        ),
        pytest.param(
            "createConversation", 201, _body([("Assistant", "q")]), None, "must be [User, Assistant]", id="new-roles"
        ),
    ],
)
def test_each_contract_rule_fires_on_a_broken_response(
    operation: str, status: int, body: bytes, sent: str | None, message: str
) -> None:
    problems = ResponseChecker().check(operation, status, _HEADERS, body, previous=_body(_START), sent=sent)
    assert any(message in p for p in problems), problems


# -- the process boundary ------------------------------------------------------------------------


def test_the_load_package_never_imports_locust_or_gevent_in_the_calling_process() -> None:
    code = (
        "import sys, canvas_ai_harness.cli, canvas_ai_harness.load, canvas_ai_harness.load.run;"
        "bad = [m for m in ('locust', 'gevent', 'geventhttpclient') if m in sys.modules];"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
