"""The contract suite against the faithful mock: it passes in both profiles, exercises every
check, and ``--profile auto`` detects each profile."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from canvas_ai_harness.contract import CHECKS
from canvas_ai_harness.mock import MockServer
from fixtures.contract import RunContract


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_the_faithful_mock_keeps_the_contract_in_both_profiles(contract_run: RunContract, profile: str) -> None:
    run = contract_run(profile=profile)

    assert run.code == 0, run.output
    report = run.report
    assert report["failures"] == [] and report["errors"] == []
    assert report["profile"]["name"] == profile
    assert {c["name"]: c["status"] for c in report["checks"]} == dict.fromkeys(CHECKS, "passed")
    for check in report["checks"]:  # exercised on every operation it names, none silently left out
        assert set(check["operations"]) <= set(check["evaluations"]), check["name"]
    assert "Result: PASS" in run.output


@pytest.mark.parametrize("profile", ["completed", "ended"])
def test_profile_auto_detects_the_targets_profile(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer], profile: str
) -> None:
    server = mock_canvas(profile=profile)

    run = contract_run(server, profile="auto", modules=("test_profiles.py",))

    assert run.code == 0, run.output
    assert run.report["profile"]["name"] == profile
    assert run.report["profile"]["source"].startswith("detected")
    assert f"profile {profile} (detected" in run.output


def test_a_target_of_the_other_profile_fails_the_profile_checks(
    contract_run: RunContract, mock_canvas: Callable[..., MockServer]
) -> None:
    server = mock_canvas(profile="ended")

    run = contract_run(server, profile="completed", modules=("test_profiles.py",))

    assert run.code == 1
    # Each scenario stops at its first broken answer: create already shows message ids.
    assert {"profile-message-ids", "profile-message-limit"} <= run.failed_checks
