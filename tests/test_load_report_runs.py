"""load-report.html of real, short load runs against the mock, read in headless Chromium; the README's example run.

Each run is bounded (a few seconds of a few users, or the README's stated 30 s run); locust runs in
subprocesses started by ``run_load``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canvas_ai_harness.load.thresholds import Check
from canvas_ai_harness.mock import Latency
from fixtures.custom_servers import StartCanvas
from fixtures.load import QUICK, RunLoad

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
README = Path(__file__).resolve().parents[1] / "README.md"


def _row(dom: str, name: str) -> str:
    found = re.search(rf'<tr class="check \w+" data-check="{re.escape(name)}"[^>]*>(.*?)</tr>', dom, re.S)
    assert found is not None, f"no row for {name}"
    return found.group(0)


def _shown(check: dict[str, Any]) -> str:
    unit = f" {check['unit']}" if check["unit"] else ""
    return Check(check["threshold"], check["limit"], check["measured"], check["passed"], check["bound"], unit).shown


def test_report_of_a_run_missing_its_p95_threshold_says_fail_shows_every_check_and_svg_charts(
    start_canvas: StartCanvas,
    load_run: RunLoad,
    rendered: Callable[[Path], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    canvas = start_canvas(llm_latency=Latency(700, 20))
    code, summary = load_run(canvas, *QUICK, thresholds="error_rate = 0.01\n[p95_ms]\npostMessage = 300\nall = 60000\n")
    assert code == 1
    err = capsys.readouterr().err
    assert "warning: a 4s run is shorter than one conversation at --think-scale 0.02" in err
    report = tmp_path / "report"
    dom = rendered(report / "load-report.html")
    header = dom[dom.index('id="verdict"') : dom.index("</header>")]
    assert 'data-verdict="FAIL"' in header and 'data-exit-code="1"' in header
    assert "<code>canvas-ai-harness load --target " in header and "--think-scale 0.02" in header
    checks = summary["verdict"]["checks"]
    assert {"p95_ms.postMessage", "p95_ms.all", "error_rate", "timeouts", "stall"} <= {c["threshold"] for c in checks}
    for check in checks:
        row = _row(dom, check["threshold"])
        assert ("✓" if check["passed"] else "✗") in row, check
        assert f'data-passed="{str(check["passed"]).lower()}"' in row
        assert f'<td class="num measured">{_shown(check)}</td>' in row, check
    assert "✗" in _row(dom, "p95_ms.postMessage") and "≤ 300 ms" in _row(dom, "p95_ms.postMessage")
    for chart in ("latency", "throughput", "users", "turns"):
        assert re.search(rf'data-chart="{chart}">\s*<svg', dom), chart
    assert 'href="locust.html"' in dom and (report / "locust.html").exists()


def test_report_of_a_passing_run_says_pass_with_every_check_ticked(
    start_canvas: StartCanvas, load_run: RunLoad, rendered: Callable[[Path], str], tmp_path: Path
) -> None:
    canvas = start_canvas(llm_latency=Latency(30, 5))
    code, summary = load_run(canvas, *QUICK, thresholds="error_rate = 0\n[p95_ms]\npostMessage = 60000\n")
    assert code == 0, summary.get("verdict")
    dom = rendered(tmp_path / "report" / "load-report.html")
    assert 'data-verdict="PASS"' in dom and 'data-exit-code="0"' in dom
    rows = re.findall(r'<tr class="check (\w+)" data-check="([^"]+)"', dom)
    assert rows and all(kind == "pass" for kind, _ in rows)
    assert {name for _, name in rows} == {c["threshold"] for c in summary["verdict"]["checks"]}
    assert "✗" not in dom


def _readme_example() -> tuple[list[str], str]:
    """The README's thresholds example and the run it states it is for (the sh block just before it)."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```sh\n(canvas-ai-harness load [^\n]*)\n```\n+```toml\n(.*?)```", text, re.S)
    assert found is not None, "README.md: the thresholds example and its run are gone"
    return shlex.split(found.group(1)), found.group(2)


def test_the_readmes_thresholds_example_passes_the_run_it_states(
    load_run: RunLoad, capsys: pytest.CaptureFixture[str]
) -> None:
    command, thresholds = _readme_example()
    assert command[:2] == ["canvas-ai-harness", "load"] and "--target" not in command  # the embedded mock
    at = command.index("--thresholds")
    args = command[2:at] + command[at + 2 :]
    run_time = args[args.index("--run-time") + 1]
    assert run_time.endswith("s") and int(run_time[:-1]) <= 60  # short enough to test
    code, summary = load_run(None, *args, thresholds=thresholds)
    assert code == 0, summary.get("verdict", {}).get("missed")
    assert "shorter than one conversation" not in capsys.readouterr().err
