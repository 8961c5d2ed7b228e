"""``--only`` / ``--skip``: a run applies the named checks only, reports the rest as skipped by
request, does not run scenarios that are about deselected checks only, and refuses an unknown
name with exit 2 and the closest valid names."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from canvas_ai_harness.cli import main
from canvas_ai_harness.contract import CHECKS, Settings
from canvas_ai_harness.contract.runner import suite_path
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.mock import MockServer
from fixtures.contract import RunContract


def test_only_applies_the_named_checks_and_runs_only_their_scenarios(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    # create-returns-200 also breaks checks that are not chosen: they must stay quiet.
    server = mock_canvas(faults=frozenset({"create-returns-200"}))

    run = contract_run(server, only=("destroy-closes", "outsider-403"))

    assert run.code == 0, run.output
    statuses = {c["name"]: c["status"] for c in run.report["checks"]}
    assert statuses["destroy-closes"] == "passed"
    assert statuses["outsider-403"] == "passed"
    for name, status in statuses.items():
        if name not in ("destroy-closes", "outsider-403"):
            assert status == "skipped", name
            assert run.check(name)["reason"] == "skipped by request (not in --only)"
    assert run.report["tests"], "nothing ran"
    for test in run.report["tests"]:
        assert {"destroy-closes", "outsider-403"} & set(test["checks"]), test["test"]
    assert "Chosen by --only/--skip: 2 of" in run.summary


def test_skip_leaves_a_broken_check_unjudged_and_its_scenarios_unrun(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(faults=frozenset({"outsider-gets-404"}))

    broken = contract_run(server, modules=("test_visibility.py",))
    skipped = contract_run(server, modules=("test_visibility.py",), skip=("outsider-403",))

    assert broken.code == 1 and broken.failed_checks == {"outsider-403"}
    assert skipped.code == 0, skipped.output
    assert skipped.check("outsider-403")["status"] == "skipped"
    assert skipped.check("outsider-403")["reason"] == "skipped by request (--skip)"
    assert not [t for t in skipped.report["tests"] if "[outsider-" in t["test"]]  # the outsider's scenarios
    assert skipped.report["llm_calls"]["used"] <= broken.report["llm_calls"]["used"]
    assert '<skipped message="skipped by request (--skip)"' in skipped.junit


def test_names_may_be_repeated_or_comma_separated() -> None:
    settings = Settings(only=("create-answers-201,destroy-closes", "outsider-403"), skip=("outsider-403",))

    assert settings.only == ("create-answers-201", "destroy-closes", "outsider-403")
    assert settings.selection.chosen == {"create-answers-201", "destroy-closes"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"only": ("create-answer-201",)}, "did you mean create-answers-201", id="only-typo"),
        pytest.param({"skip": ("outsider-404",)}, "did you mean outsider-403", id="skip-typo"),
        pytest.param({"only": ("outsider-403",), "skip": ("outsider-403",)}, "leave no check to run", id="nothing"),
    ],
)
def test_a_selection_naming_no_check_is_a_usage_error(options: dict[str, tuple[str, ...]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**options)


def test_contract_with_an_unknown_check_exits_2_naming_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["contract", "--only", "create-answer-201"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--only 'create-answer-201' is not a check" in err and "did you mean create-answers-201" in err


def test_check_command_takes_the_same_selection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--skip", "no-such-check-at-all"]) == 2
    assert "--skip 'no-such-check-at-all' is not a check" in capsys.readouterr().err


def test_plain_pytest_refuses_an_unknown_check_by_name() -> None:
    suite = suite_path()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-c", str(suite / "pytest.ini"), "--skip=destroy-close"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "did you mean destroy-closes" in done.stderr


def test_every_check_name_is_selectable() -> None:
    for name in CHECKS:
        assert Settings(only=(name,)).selection.chosen == {name}
