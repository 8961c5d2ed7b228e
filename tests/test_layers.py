"""The layers of ARCHITECTURE.md, kept: what each part may import, read from the source with ``ast``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "canvas_ai_harness"
HEAVY = ("starlette", "uvicorn", "locust", "gevent", "schemathesis")
PARTS = ("contract", "load", "proxy", "fake")
LOWER = (
    "budgets",
    "config",
    "crash",
    "errors",
    "exits",
    "explain",
    "htmlreport",
    "interrupts",
    "preflight",
    "redact",
    "spec",
    "validation",
    "serving",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, list[tuple[str, bool]]]:
    """Every module of the package -> the modules it imports, each with whether it does so lazily."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        module_level = {id(node) for node in tree.body}
        names: list[tuple[str, bool]] = []
        for node in ast.walk(tree):
            lazy = id(node) not in module_level
            if isinstance(node, ast.Import):
                names += [(alias.name, lazy) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [(node.module, lazy)]
                names += [(f"{node.module}.{alias.name}", lazy) for alias in node.names]
        found[_module_name(path)] = names
    return found


IMPORTS = _imports()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _internal(names: list[tuple[str, bool]]) -> set[str]:
    return {_layer(name) for name, _ in names if name.startswith("canvas_ai_harness.")}


def test_the_import_scan_sees_the_package() -> None:
    assert "canvas_ai_harness.canvas.answers" in IMPORTS and "canvas_ai_harness.mock.service" in IMPORTS
    assert ("canvas_ai_harness.canvas.answers", False) in IMPORTS["canvas_ai_harness.load.outcomes"]


@pytest.mark.parametrize("module", [m for m in IMPORTS if _layer(m) == "canvas"])
def test_the_domain_imports_only_itself_errors_and_the_standard_library(module: str) -> None:
    names = IMPORTS[module]
    assert _internal(names) <= {"canvas", "errors"}
    outside = {n.split(".")[0] for n, _ in names if not n.startswith("canvas_ai_harness")}
    assert outside <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize("module", [m for m in IMPORTS if _layer(m) in LOWER])
def test_the_lower_layer_imports_no_part(module: str) -> None:
    assert _internal(IMPORTS[module]) <= {"canvas", *LOWER}


@pytest.mark.parametrize("module", [m for m in IMPORTS if _layer(m) == "mock"])
def test_the_mock_imports_none_of_the_parts_that_test_it(module: str) -> None:
    assert not _internal(IMPORTS[module]) & {*PARTS, "cli", "check"}


@pytest.mark.parametrize("module", [m for m in IMPORTS if _layer(m) in PARTS])
def test_the_parts_import_one_another_not(module: str) -> None:
    assert _internal(IMPORTS[module]) & set(PARTS) <= {_layer(module)}


# The snapshot reuses the contract suite's client and session (pacing, budget, redaction, cleanup), nothing else of it.
SNAPSHOT_USES_OF_CONTRACT = frozenset({"client", "session", "ledger", "limits", "access"})


@pytest.mark.parametrize("module", [m for m in IMPORTS if _layer(m) == "snapshot"])
def test_the_snapshot_imports_the_contract_client_and_no_other_part(module: str) -> None:
    names = IMPORTS[module]
    assert not _internal(names) & {"load", "proxy", "fake", "cli", "check"}
    from_contract = {n.split(".")[2] for n, _ in names if n.startswith("canvas_ai_harness.contract.")}
    assert from_contract <= SNAPSHOT_USES_OF_CONTRACT
    assert not any(n.startswith("canvas_ai_harness.mock") for n, lazy in names if not lazy)


def test_only_the_cli_imports_the_snapshot() -> None:
    importers = {m for m, names in IMPORTS.items() for n, _ in names if n.startswith("canvas_ai_harness.snapshot")}
    assert {_layer(m) for m in importers} <= {"snapshot", "cli"}
    assert any(_layer(m) == "cli" for m in importers)


def test_only_a_request_for_faults_imports_the_faults() -> None:
    importers = {
        module: lazy
        for module, names in IMPORTS.items()
        for name, lazy in names
        if name == "canvas_ai_harness.mock.faults" and module != "canvas_ai_harness.mock.faults"
    }
    assert all(module == "canvas_ai_harness.mock.server" or _layer(module) == "cli" for module in importers)
    assert all(importers.values()), f"imported at module level by {[m for m, lazy in importers.items() if not lazy]}"


def test_the_fake_does_not_import_a_web_server() -> None:
    for module in (m for m in IMPORTS if _layer(m) == "fake"):
        names = {name for name, _ in IMPORTS[module]}
        assert not names & {"canvas_ai_harness.mock.server", "canvas_ai_harness.mock.app", "canvas_ai_harness.serving"}


def test_importing_the_fake_or_the_domain_loads_no_server_and_no_load_tool() -> None:
    code = (
        "import json, sys\n"
        "import canvas_ai_harness.fake, canvas_ai_harness.canvas\n"
        "from canvas_ai_harness.canvas import answers, bodies, lifecycle, requests, routes, transcript\n"
        "from canvas_ai_harness.mock import default_target\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_the_faithful_mock_never_loads_the_faults() -> None:
    code = (
        "import sys\n"
        "from canvas_ai_harness.mock import MockConfig\n"
        "from canvas_ai_harness.mock.hooks import ServiceHooks\n"
        "from canvas_ai_harness.mock.server import build_service\n"
        "assert type(build_service(MockConfig()).hooks) is ServiceHooks\n"
        "print('canvas_ai_harness.mock.faults' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_a_mock_asked_for_faults_gets_them_through_its_hooks() -> None:
    from canvas_ai_harness.mock import MockConfig
    from canvas_ai_harness.mock.faults import FaultHooks
    from canvas_ai_harness.mock.server import build_service

    assert isinstance(build_service(MockConfig(faults=frozenset({"role-lowercase"}))).hooks, FaultHooks)
