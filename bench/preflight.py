"""The preflight on broken setups: its one line, the wall time of the whole command, the AI calls made.

    python bench/preflight.py [--command contract|load|check]

Starts the faithful mock Canvas in this process (127.0.0.1, a free port), then for each broken
setup of issue 10 writes a target file and runs ``canvas-ai-harness <command> --target FILE``
in-process (``cli.main``), timing it from the call to the exit code (after one unshown warm-up
run, so that the command's lazy imports are not counted). The AI calls are the
creates and post_messages in the mock's call log (the preflight must make none). A last row
runs the faithful target through the preflight alone: its line and its time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from canvas_ai_harness.cli import main
from canvas_ai_harness.config import Target, write_target
from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.mock.world import OTHER_STUDENT_TOKEN
from canvas_ai_harness.preflight import preflight


def _tokens(**tokens: str) -> Callable[[Target], Target]:
    return lambda t: dataclasses.replace(t, tokens=dataclasses.replace(t.tokens, **tokens))


SETUPS: list[tuple[str, Callable[[Target], Target] | None]] = [
    ("a revoked token", _tokens(student="revoked-token-0000")),
    ("a teacher token that is a student", _tokens(teacher=OTHER_STUDENT_TOKEN)),
    ("/api/v1 in base_url", lambda t: dataclasses.replace(t, base_url=t.base_url + "/api/v1/")),
    ("an unknown course", lambda t: dataclasses.replace(t, course_id="999")),
    ("an unknown experience", lambda t: dataclasses.replace(t, ai_experience_id="999")),
    ("a flag-off main course", lambda t: dataclasses.replace(t, course_id="303", ai_experience_id="30")),
    ("three unset variables", None),
]

UNSET = """\
base_url = "{url}"
course_id = "${{BENCH_PREFLIGHT_COURSE}}"
ai_experience_id = "7"

[tokens]
student = "${{BENCH_PREFLIGHT_STUDENT}}"
teacher = "${{BENCH_PREFLIGHT_TEACHER}}"
"""


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=("contract", "load", "check"), default="contract")
    args = parser.parse_args()
    for name in ("BENCH_PREFLIGHT_COURSE", "BENCH_PREFLIGHT_STUDENT", "BENCH_PREFLIGHT_TEACHER"):
        os.environ.pop(name, None)
    server = MockServer(MockConfig(seed=1)).start()
    print(f"# load average {os.getloadavg()[0]:.2f}; mock at {server.url}; command: {args.command}")
    print(f"{'setup':<36}{'exit':>5}{'wall ms':>9}{'AI calls':>10}  line")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for label, bend in [("warm-up (imports; not shown)", SETUPS[0][1]), *SETUPS]:
                server.service.reset()
                path = Path(scratch) / "target.toml"
                if bend is None:
                    path.write_text(UNSET.format(url=server.url), encoding="utf-8")
                else:
                    write_target(bend(server.target()), path)
                argv = [args.command, "--target", str(path), "--report-dir", str(Path(scratch) / "r")]
                if args.command != "contract":
                    argv += ["--users", "2"]
                out, err = io.StringIO(), io.StringIO()
                started = time.perf_counter()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(argv)
                wall = (time.perf_counter() - started) * 1000
                ai = sum(1 for call in server.service.calls if call.method == "POST")
                lines = [line for line in (out.getvalue() + err.getvalue()).splitlines() if line.strip()]
                shown = " | ".join(lines).replace(str(path), "target.toml").replace(server.url, "http://MOCK")
                if not label.startswith("warm-up"):
                    print(f"{label:<36}{code:>5}{wall:>9.1f}{ai:>10}  {shown}")
            server.service.reset()
            started = time.perf_counter()
            result = preflight(server.target())
            wall = (time.perf_counter() - started) * 1000
            ai = sum(1 for call in server.service.calls if call.method == "POST")
            print(f"{'the faithful target (preflight alone)':<36}{'-':>5}{wall:>9.1f}{ai:>10}  {result.line()}")
    finally:
        server.stop()


if __name__ == "__main__":
    main_bench()
