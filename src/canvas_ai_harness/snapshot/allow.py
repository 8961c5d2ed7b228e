"""The allow file: differences a team has accepted, each with its reason.

    # canvas-ai-harness diff --allow accepted.toml
    [[allow]]
    difference = "getConversation/*:shape:all_objectives_met"   # a difference's id; * and ? match
    reason = "our clients ignore unknown fields"

    [[allow]]
    difference = "profile"        # the profile change (completed -> ended) and every row under it
    reason = "upgrade to the ended profile planned in CHG-1234"

A difference's id is ``route/scenario:aspect[:path]``, printed with every difference. An allowed
difference is listed as allowed and not counted. The file is validated like a target file: an
unknown key names the valid ones, a missing ``reason`` names the entry.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from canvas_ai_harness.config import read_toml, unknown_key
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.snapshot.diff import Comparison

__all__ = ["Allowance", "apply_allowances", "load_allow_file", "parse_allowances"]

_TOP_KEYS: Final = ["allow"]
_ENTRY_KEYS: Final = ["difference", "reason"]


@dataclass(frozen=True, slots=True)
class Allowance:
    difference: str  # an id pattern (fnmatch)
    reason: str

    def matches(self, difference_id: str) -> bool:
        return fnmatch.fnmatchcase(difference_id, self.difference)


def parse_allowances(data: dict[str, Any], where: str) -> list[Allowance]:
    """Validate an allow file already parsed from TOML."""
    for key in data:
        if key not in _TOP_KEYS:
            raise unknown_key(key, _TOP_KEYS, where)
    entries = data.get("allow", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f'{where}: allow must be a list of tables; write [[allow]] then difference = "..."')
    found: list[Allowance] = []
    for number, entry in enumerate(entries, 1):
        here = f"{where} [[allow]] #{number}"
        for key in entry:
            if key not in _ENTRY_KEYS:
                raise unknown_key(key, _ENTRY_KEYS, here)
        for key in _ENTRY_KEYS:
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f'{here}: {key} is missing or empty; write {key} = "..."')
        found.append(Allowance(entry["difference"].strip(), entry["reason"].strip()))
    return found


def load_allow_file(path: Path) -> list[Allowance]:
    data = read_toml(path, f"--allow {path}", "write one (README.md, 'Before an upgrade')")
    return parse_allowances(data, str(path))


def apply_allowances(comparison: Comparison, allowances: list[Allowance]) -> None:
    """Mark each difference an allowance matches; remember allowances that matched nothing."""
    used: set[Allowance] = set()
    change = comparison.profile_change
    for allowance in allowances:
        if change is not None and allowance.matches(change.id):
            change.allowed = allowance.reason
            used.add(allowance)
    for difference in comparison.differences:
        for allowance in allowances:
            if allowance.matches(difference.id):
                difference.allowed = allowance.reason
                used.add(allowance)
                break
    comparison.unused_allowances = [a.difference for a in allowances if a not in used]
