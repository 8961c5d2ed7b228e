"""Figures for the contract suite: a default run against the embedded mock, and its detection table.

    python bench/contract_detection.py [--max-examples 10] [--seed 1] [--fault NAME ...] [--no-default-run]

1. Runs ``canvas-ai-harness contract`` with its defaults (embedded mock, profile completed) in a
   process of its own and prints its wall time, the requests it sent and the AI calls it caused.
2. Runs the same suite, with the same settings, in this process against a mock broken by each
   fault of ``mock/faults.py`` and prints a Markdown table: fault, detected?, the check the fault
   must be named by, and every check the run reported.

Not a test: it prints figures. The whole table takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from canvas_ai_harness.config import write_target
from canvas_ai_harness.contract import Settings, run_contract
from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.mock.faults import FAULTS


def default_run(workdir: Path, seed: int | None) -> None:
    command = [sys.executable, "-m", "canvas_ai_harness", "contract", "--report-dir", str(workdir)]
    if seed is not None:
        command += ["--seed", str(seed)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    report = json.loads((workdir / "contract-report.json").read_text("utf-8"))
    print(f"$ {' '.join(['canvas-ai-harness', *command[3:]])}")
    print(f"exit {done.returncode}; wall time {wall:.1f} s (suite {report['duration_s']:.1f} s)")
    print(f"requests sent: {report['requests']['sent']}; AI calls: {report['llm_calls']['used']}")
    cleanup = report["cleanup"]
    print(f"conversations created: {cleanup['conversations_created']}, left open: {len(cleanup['left_open'])}")
    print()


def detection(names: list[str], max_examples: int, seed: int) -> None:
    print("| fault | category | detected | named by | checks the run reported | time |")
    print("|---|---|---|---|---|---|")
    caught = 0
    for name in names:
        fault = FAULTS[name]
        server = MockServer(MockConfig(profile=fault.profile or "completed", seed=seed, faults=frozenset({name})))
        server.start()
        workdir = Path(tempfile.mkdtemp(prefix=f"contract-{name}-"))
        write_target(server.target(), workdir / "target.toml")
        settings = Settings(
            target_path=str(workdir / "target.toml"), max_examples=max_examples, seed=seed, report_dir=workdir
        )
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                code = run_contract(settings).exit_code
        finally:
            server.stop()
        report = json.loads((workdir / "contract-report.json").read_text("utf-8"))
        named = sorted({f["check"] for failure in report["failures"] for f in failure["findings"]})
        detected = code == 1 and fault.detected_by in named
        caught += detected
        print(
            f"| {name} | {fault.category} | {'yes' if detected else 'NO'} | {fault.detected_by} | "
            f"{', '.join(named)} | {time.perf_counter() - started:.1f} s |",
            flush=True,
        )
    print(f"\n{caught} of {len(names)} faults detected and named by the expected check.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10, help="as canvas-ai-harness contract (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="only these faults (repeatable)")
    parser.add_argument("--no-default-run", action="store_true", help="skip the timed default run")
    args = parser.parse_args()
    if not args.no_default_run:
        with tempfile.TemporaryDirectory() as workdir:
            default_run(Path(workdir), args.seed)
    detection(args.fault or sorted(FAULTS), args.max_examples, args.seed)


if __name__ == "__main__":
    main()
