"""The coverage table keeps up with the documents and the checks: every fact of canvas-facts.md and
every behaviour the spec describes has a row, every row names real checks or says why it cannot be
checked live, every check is in some row, and docs/coverage.md is the table the code generates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from canvas_ai_harness.contract import CHECKS
from canvas_ai_harness.contract.coverage import FACTS, SPEC, Rule, counts, main, render
from canvas_ai_harness.contract.coverage_rows import RULES
from canvas_ai_harness.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "coverage.md"
CANVAS_FACTS = ROOT.parent / "shared" / "canvas-facts.md"  # read-only, beside the checkout (CI too)
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
_ITEM = re.compile(r"^(- |\d+\. )")
_TABLE_SEPARATOR = re.compile(r"^\|[-| :]+\|$")


def _norm(text: str) -> str:
    return " ".join(text.split())


def sections(markdown: str) -> dict[str, list[str]]:
    """Heading -> the lines under it (the heading line first)."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in markdown.splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = found.setdefault(heading.group(2), [])
        current.append(line)
    return found


def items(lines: list[str]) -> Iterator[str]:
    """Each bullet, numbered item (with its continuation lines) and table row but a table's header."""
    item: list[str] = []
    header_next = True
    for line in [*lines, ""]:
        if line.startswith("|"):
            if item:
                yield _norm(" ".join(item))
                item = []
            if not header_next and not _TABLE_SEPARATOR.match(line.strip()):
                yield _norm(line)
            header_next = False
            continue
        header_next = True
        if _ITEM.match(line) or not line.strip() or _HEADING.match(line):
            if item:
                yield _norm(" ".join(item))
            item = [line] if _ITEM.match(line) else []
        elif item:
            item.append(line)


def uncovered(markdown: str, rules: tuple[Rule, ...]) -> list[str]:
    """What of ``markdown`` no row stands for: headings without a row, items no row's quote is in."""
    missing = []
    for heading, lines in sections(markdown).items():
        quotes = [_norm(r.quote) for r in rules if r.document == FACTS and r.where == heading]
        if not quotes:
            missing.append(f"heading {heading!r}")
        missing += [f"{heading!r}: {item}" for item in items(lines[1:]) if not any(q in item for q in quotes)]
    return missing


def _facts() -> str:
    if not CANVAS_FACTS.is_file():
        pytest.skip(
            f"{CANVAS_FACTS} is absent: the canvas-facts half of the coverage test needs it beside the checkout"
        )
    return CANVAS_FACTS.read_text(encoding="utf-8")


# -- the rows and the checks -----------------------------------------------------------------
def test_every_check_a_row_names_exists() -> None:
    unknown = {(r.id, c) for r in RULES for c in r.checks if c not in CHECKS}
    assert not unknown


def test_every_check_is_named_by_some_row() -> None:
    named = {c for r in RULES for c in r.checks}
    assert set(CHECKS) - named == set()


def test_each_row_has_checks_or_says_why_it_cannot_be_checked_live() -> None:
    assert [r.id for r in RULES if not r.checks and not r.limit.strip()] == []
    assert all(r.statement.strip() and r.document in (FACTS, SPEC) for r in RULES)
    assert len({r.id for r in RULES}) == len(RULES)


def test_the_generated_table_is_up_to_date() -> None:
    assert TABLE.read_text(encoding="utf-8") == render(), (
        "docs/coverage.md is stale: python -m canvas_ai_harness.contract.coverage --output docs/coverage.md"
    )


def test_the_module_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--output", str(tmp_path / "coverage.md")])
    main([])

    assert (tmp_path / "coverage.md").read_text(encoding="utf-8") == render() == capsys.readouterr().out
    figures = counts(RULES)
    assert f"{figures['rows']} rows: {figures['with checks']} with checks" in render()


# -- canvas-facts.md -------------------------------------------------------------------------
def test_every_heading_and_item_of_canvas_facts_has_a_row() -> None:
    assert uncovered(_facts(), RULES) == []


def test_every_canvas_facts_row_quotes_its_section() -> None:
    found = {heading: _norm("\n".join(lines)) for heading, lines in sections(_facts()).items()}
    stale = [r.id for r in RULES if r.document == FACTS and _norm(r.quote) not in found.get(r.where, "")]
    assert stale == []


def test_an_uncovered_fact_is_reported() -> None:
    text = "# Top\n\n| a | b |\n|---|---|\n| kept | x |\n\n## New\n\n- a new rule\n  on two lines\n1. another\n"
    rules = (Rule("kept", FACTS, "Top", "| kept |", "kept", ("integer-ids",)),)

    assert uncovered(text, rules) == ["heading 'New'", "'New': - a new rule on two lines", "'New': 1. another"]


# -- specs/openapi.yaml ----------------------------------------------------------------------
def _spec_text(spec: dict[str, Any], where: str) -> str:
    operations = {
        op["operationId"]: op for item in spec["paths"].values() for op in item.values() if "operationId" in op
    }
    if where in operations:
        return _norm(operations[where]["description"])
    node: Any = spec
    for part in where.split("."):
        node = node[part]
    return _norm(node if isinstance(node, str) else str(node.get("description", node)))


def test_every_spec_row_quotes_its_place() -> None:
    spec = load_spec()
    stale = [r.id for r in RULES if r.document == SPEC and _norm(r.quote) not in _spec_text(spec, r.where)]
    assert stale == []


def test_every_operation_parameter_header_response_and_scheme_of_the_spec_has_a_row() -> None:
    spec = load_spec()
    places = {op["operationId"] for item in spec["paths"].values() for op in item.values() if "operationId" in op}
    for kind in ("parameters", "headers", "responses", "securitySchemes"):
        places |= {f"components.{kind}.{name}" for name in spec["components"][kind]}
    assert places - {r.where for r in RULES if r.document == SPEC} == set()


def test_every_quirk_the_spec_describes_has_a_row() -> None:
    description = load_spec()["info"]["description"]
    quotes = [_norm(r.quote) for r in RULES if r.document == SPEC and r.where == "info.description"]
    quirks = list(items(sections(description)["Canvas quirks a client must expect"][1:]))
    assert len(quirks) >= 9
    assert [q for q in quirks if not any(quote in q for quote in quotes)] == []
