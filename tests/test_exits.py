"""Exit codes are written once, in ``canvas_ai_harness.exits``; every other module names them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from canvas_ai_harness.exits import (
    EXIT_FAILED,
    EXIT_HARNESS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    verdict_word,
    worst,
)

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "canvas_ai_harness"
_CODES = {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_HARNESS, EXIT_INTERRUPTED}
_EXIT_NAMES = ("exit_code", "process_exit_code", "returncode")


def _ints(node: ast.AST) -> list[int]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) is int and n.value in _CODES
    ]


def _target_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def exit_code_literals(source: str) -> list[str]:
    """Where ``source`` writes an exit code as a number instead of naming it from ``exits``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and node.value == EXIT_INTERRUPTED and type(node.value) is int:
            found.append(f"{where}: 130")
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [_target_name(t) for t in targets] + [
                _target_name(e) for t in targets if isinstance(t, ast.Tuple) for e in t.elts
            ]
            if any(n.startswith("EXIT_") or n in _EXIT_NAMES for n in names) and _ints(node.value):
                found.append(f"{where}: {', '.join(names)} = {ast.unparse(node.value)}")
        elif isinstance(node, ast.FunctionDef) and node.name in _EXIT_NAMES:
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None and _ints(ret.value):
                    found.append(f"line {ret.lineno}: {node.name} returns {ast.unparse(ret.value)}")
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("sys.exit", "exit", "SystemExit")
            and any(_ints(a) for a in node.args)
        ):
            found.append(f"{where}: {ast.unparse(node)}")
    return found


def test_no_module_but_exits_writes_an_exit_code_as_a_number() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "exits.py" and (found := exit_code_literals(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("EXIT_OK, EXIT_FAILED = 0, 1", id="own-constants"),
        pytest.param("self.env.process_exit_code = 0 if passed else 1", id="locust-exit-code"),
        pytest.param("class R:\n    def exit_code(self):\n        return 2", id="exit-code-property"),
        pytest.param("import sys\nsys.exit(2)", id="sys-exit"),
        pytest.param("if code == 130: pass", id="interrupted"),
    ],
)
def test_the_literal_scan_finds_a_written_exit_code(source: str) -> None:
    assert exit_code_literals(source)


def test_the_worst_code_wins_and_each_has_a_word() -> None:
    assert worst([EXIT_OK, EXIT_FAILED]) == EXIT_FAILED
    assert worst([EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE]) == EXIT_INTERRUPTED
    assert worst([EXIT_FAILED, EXIT_HARNESS, EXIT_USAGE]) == EXIT_HARNESS  # a harness bug is never a verdict
    assert worst([]) == EXIT_OK
    assert [verdict_word(c) for c in (0, 1, 2, 3, 130, 4)] == [
        "PASS",
        "FAIL",
        "ERROR",
        "HARNESS ERROR",
        "INTERRUPTED",
        "exit 4",
    ]
