"""Stateful sequences through the spec's links: create, post messages, show and end, in orders
Hypothesis generates. The ledger follows each sequence, so the lifecycle and transcript rules
are judged on every step, not on one fixed example."""

from __future__ import annotations

import pytest

from canvas_ai_harness.contract import plugin
from canvas_ai_harness.contract.fuzz import run_sequences
from canvas_ai_harness.contract.session import ContractSession


@pytest.mark.canvas_stage(2)
@pytest.mark.canvas_check("create-closes-previous", "transcript-appends-user-and-assistant", "negative-data-rejected")
def test_stateful_sequences_keep_the_contract(contract: ContractSession) -> None:
    run_sequences(contract, plugin.schema(), examples=contract.settings.max_examples)
