"""What a contract run will cost, estimated from the tests it selected, before its first AI call.

A scenario says what it spends with its ``canvas_cost(creates=, posts=, identity=)`` marker (its
student's by default: the estimate hands scenarios to the students as the run does, the one with
the fewest creates first); the explorations spend at most their create caps
(``fuzz.EXPLORATION_CREATES``) and about ``--max-examples`` posts; the budgets cap the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from canvas_ai_harness.contract.allowance import Estimate
from canvas_ai_harness.contract.fuzz import EXPLORATION_CREATES, OTHER_EXPLORATION_CREATES

if TYPE_CHECKING:
    from canvas_ai_harness.contract.session import ContractSession

__all__ = ["estimate"]


def estimate(contract: ContractSession, items: Sequence[Any]) -> Estimate:
    """What the selected tests will cost: scenarios by their ``canvas_cost``, explorations by their caps."""
    result = Estimate(create_limit=contract.creates.limit, call_limit=contract.budget.limit)
    pool = contract.target.tokens.student_pool
    for student in pool[: len(items)]:
        result.add(student, 1, 0)  # the conversation the scenarios that reuse one start from
    examples = contract.settings.max_examples
    for item in items:
        marker = item.get_closest_marker("canvas_cost")
        stage = item.get_closest_marker("canvas_stage")
        if marker is not None:
            identity = marker.kwargs.get("identity") or result.least_used(pool)
            result.add(identity, marker.kwargs.get("creates", 0), marker.kwargs.get("posts", 0))
        elif stage is not None and int(stage.args[0]) == 2:  # the stateful sequences
            result.add(result.least_used(pool), EXPLORATION_CREATES["sequences"], examples)
        elif stage is not None:
            operation = _operation_of(contract, item)
            creates = EXPLORATION_CREATES.get(operation or "", OTHER_EXPLORATION_CREATES)
            result.add(result.least_used(pool), creates, examples if operation == "postMessage" else 0)
    return result


def _operation_of(contract: ContractSession, item: Any) -> str | None:
    label = getattr(item, "operation_label", None) or getattr(getattr(item, "callspec", None), "id", None)
    if isinstance(label, str) and " " in label:
        matched, _ = contract.validator.match(*label.split(" ", 1))
        return matched.operation_id if matched else None
    return None
