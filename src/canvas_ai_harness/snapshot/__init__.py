"""Snapshots of how a Canvas answers, and the diff between two: the gate before an upgrade.

script.py     the fixed request script (the contract suite's client, the domain's routes)
normalise.py  one answer in normal form: status, headers, shape, stable values, placeholders
take.py       take, write and read a snapshot; tell a snapshot file from a target file
diff.py       compare two snapshots: breaking, additive, the profile change and its rows
allow.py      the allow file of accepted differences
report.py     text, Markdown ($GITHUB_STEP_SUMMARY) and JSON reports; the exit code
run.py        ``run_snapshot`` and ``run_diff``, the commands' library calls
"""

from __future__ import annotations

from canvas_ai_harness.snapshot.diff import ADDITIVE, BREAKING, Comparison, Difference, compare
from canvas_ai_harness.snapshot.run import DiffResult, run_diff, run_snapshot
from canvas_ai_harness.snapshot.take import FORMAT, VERSION, Snapshot, take_snapshot

__all__ = [
    "ADDITIVE",
    "BREAKING",
    "FORMAT",
    "VERSION",
    "Comparison",
    "DiffResult",
    "Difference",
    "Snapshot",
    "compare",
    "run_diff",
    "run_snapshot",
    "take_snapshot",
]
