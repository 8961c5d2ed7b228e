"""Figures for ``snapshot`` and ``diff``: stability, the profile change, the fault table, cost and time.

    python bench/snapshot.py [--runs 5] [--no-faults] [--no-live-pace]

1. Five snapshots of fresh mocks of one profile, each with another seed, diffed against the
   first: the number of differences (0 expected), per profile.
2. The diff of a ``completed`` mock against an ``ended`` one: its verdict and profile rows.
3. The faithful mock against the mock with each planted fault (``mock/faults.py``): what the diff
   said (breaking / additive only / undetected) and the first breaking difference.
4. A snapshot of the embedded mock: wall time, requests, creates, AI calls; then the same script
   at the contract client's default live pace (5 requests a second) against a mock treated as
   live, measured, beside requests / pace computed.

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from canvas_ai_harness.config import write_target
from canvas_ai_harness.contract.session import DEFAULT_LIVE_RATE
from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.mock.faults import FAULTS
from canvas_ai_harness.preflight import preflight
from canvas_ai_harness.snapshot.diff import compare
from canvas_ai_harness.snapshot.take import Snapshot, take_snapshot


def _snap(directory: Path, config: MockConfig, **options: object) -> Snapshot:
    server = MockServer(config).start()
    try:
        path = directory / "target.toml"
        write_target(server.target(), path)
        return take_snapshot(str(path), **options)  # type: ignore[arg-type]
    finally:
        server.stop()


def stability(directory: Path, runs: int) -> None:
    print(f"## 1. {runs} fresh mocks of one profile, seeds 1..{runs}, diffed against seed 1")
    for profile in ("completed", "ended"):
        first = _snap(directory, MockConfig(profile=profile, seed=1)).document
        found = [
            len(compare(first, _snap(directory, MockConfig(profile=profile, seed=s)).document).differences)
            for s in range(2, runs + 1)
        ]
        print(f"- {profile}: differences per run {found} (identical documents: {all(n == 0 for n in found)})")


def profile_change(directory: Path) -> None:
    print("\n## 2. completed -> ended")
    c = compare(
        _snap(directory, MockConfig(profile="completed", seed=1)).document,
        _snap(directory, MockConfig(profile="ended", seed=2)).document,
    )
    change = c.profile_change
    assert change is not None
    print(f"- profile change {change.before} -> {change.after}; breaking counted: {c.breaks} (the change itself)")
    for row, found in change.rows.items():
        print(f"  - {row}: {len(found)} difference(s)" if found else f"  - {row}: not exercised by the script")
    unexplained = [d.id for d in c.differences if d.row is None]
    print(f"- differences not explained by the profile table: {len(unexplained)} {unexplained[:3]}")


def faults(directory: Path) -> None:
    print("\n## 3. faithful mock vs each planted fault\n")
    print("| fault | profile | the diff said | breaking | first breaking difference |")
    print("|---|---|---|---|---|")
    faithful: dict[str, dict[str, object]] = {}
    for name, fault in FAULTS.items():
        profile = fault.profile or "completed"
        if profile not in faithful:
            faithful[profile] = _snap(directory, MockConfig(profile=profile, seed=1)).document
        broken = _snap(directory, MockConfig(profile=profile, seed=2, faults=frozenset({name}))).document
        c = compare(faithful[profile], broken)  # type: ignore[arg-type]
        said = "breaking" if c.breaks else ("additive only" if c.additive else "undetected")
        first = c.breaking[0].id if c.breaking else (c.additive[0].id if c.additive else "")
        print(f"| {name} | {profile} | {said} | {c.breaks} | `{first}` |")


def cost(directory: Path, live_pace: bool) -> None:
    print("\n## 4. cost and time of one snapshot")
    times = []
    for seed in range(1, 4):
        started = time.perf_counter()
        snap = take_snapshot(None, seed)
        times.append(time.perf_counter() - started)
    print(
        f"- embedded mock (profile completed): median {statistics.median(times):.2f} s over 3 runs, "
        f"{snap.requests} requests, {snap.creates} creates, {snap.ai_calls} AI calls"
    )
    server = MockServer(MockConfig(seed=1)).start()
    try:
        checked = preflight(server.target())
    finally:
        server.stop()
    print(f"- plus, against a target file, the preflight: {checked.requests} requests, no AI call")
    ended = _snap(directory, MockConfig(profile="ended", seed=1))
    print(f"- mock in profile ended: {ended.requests} requests, {ended.creates} creates, {ended.ai_calls} AI calls")
    print(
        f"- at the default live pace ({DEFAULT_LIVE_RATE:g} requests/s): "
        f"computed {snap.requests / DEFAULT_LIVE_RATE:.1f} s"
    )
    if live_pace:
        paced = _snap(directory, MockConfig(profile="completed", seed=1), rate_limit=DEFAULT_LIVE_RATE)
        print(f"  measured against a mock treated as live: {paced.seconds:.1f} s, {paced.requests} requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--no-live-pace", action="store_true")
    args = parser.parse_args()
    os.environ.pop("CANVAS_AI_TARGET", None)
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        stability(directory, args.runs)
        profile_change(directory)
        if not args.no_faults:
            faults(directory)
        cost(directory, not args.no_live_pace)


if __name__ == "__main__":
    main()
