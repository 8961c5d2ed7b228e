"""The contract suite: does this Canvas keep the AI Conversations contract?

``run_contract`` (``canvas-ai-harness contract``) runs ``contract_tests/`` with the pytest plugin
in ``plugin.py``. The modules, bottom-up:

- ``checks``: every check, named, quoting the Canvas rule it enforces; ``ContractViolation``.
- ``limits``: the AI-call budget and the pace; ``CannotRun`` and its reasons.
- ``client``: every request of a run: identities, budget, pace, throttling retries, observers.
- ``ledger``: what the run knows of the conversations it touched (and must end).
- ``reading``: what a request told Canvas (its ``message``, ids), read with ``canvas.requests``.
- ``verdicts``: the findings of one exchange and the run's pass/fail counts.
- ``access``: the authorization order and who may reach which conversation.
- ``body_rules``: what a successful answer holds (ids, progress, messages, transcript, show).
- ``rulebook``: applies every check to every exchange and updates the ledger.
- ``fuzz``: schemathesis's property-based and stateful tests, sent through the client.
- ``scenario``: ``Canvas``, the vocabulary of the suite's fixed scenarios.
- ``session``: one run (target, profile, client, rulebook, cleanup); ``report``: what it reports.
"""

from __future__ import annotations

from canvas_ai_harness.contract.checks import CHECKS, Check, ContractViolation
from canvas_ai_harness.contract.runner import ContractResult, run_contract, suite_path
from canvas_ai_harness.contract.session import ContractSession, Settings

__all__ = [
    "CHECKS",
    "Check",
    "ContractResult",
    "ContractSession",
    "ContractViolation",
    "Settings",
    "run_contract",
    "suite_path",
]
