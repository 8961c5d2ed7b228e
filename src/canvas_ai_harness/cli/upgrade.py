"""``snapshot`` and ``diff``: before an upgrade, record how a Canvas answers; after it, compare.

Each is a thin layer over ``canvas_ai_harness.snapshot.run``. ``diff`` exits 0 (no difference,
or only additive or allowed ones), 1 (a breaking difference) or 2 (a setup error).
"""

from __future__ import annotations

from pathlib import Path

import click

from canvas_ai_harness.cli.options import A_FILE, max_creates_option, option, prefixed_option, typed_command

__all__ = ["diff", "snapshot"]

A_SIDE = click.Path(dir_okay=False, path_type=Path)  # read (and refused with one line) by read_side


@click.command()
@option("target", help="Target file (TOML). Without one, the embedded mock Canvas.")
@prefixed_option(
    "CANVAS_AI_SNAPSHOT",
    "--out",
    type=A_FILE,
    default=Path("canvas-snapshot.json"),
    help="Write the snapshot here.",
)
@option("seed", help="Seed of the embedded mock (its AI's words; a snapshot does not depend on them).")
@max_creates_option(
    "Conversations the snapshot may create (it needs 4); 0: no limit. Default: none on the mock, 35 else."
)
def snapshot(target: Path | None, out: Path, seed: int | None, max_creates: int | None) -> int:
    """Record how a Canvas answers one fixed script of requests (no token is written)."""
    from canvas_ai_harness.exits import EXIT_OK
    from canvas_ai_harness.snapshot.run import run_snapshot

    run_snapshot(
        target, out, seed, max_creates=max_creates, echo=lambda line: click.echo(f"snapshot: {line}", err=True)
    )
    return EXIT_OK


@click.command()
@click.argument("before", type=A_SIDE)
@click.argument("after", type=A_SIDE)
@prefixed_option(
    "CANVAS_AI_DIFF",
    "--allow",
    type=A_FILE,
    default=None,
    help="TOML of accepted differences, each with a reason.",
)
@option(
    "report_dir",
    default=None,
    env="CANVAS_AI_DIFF_REPORT_DIR",
    help="Write diff-report.md, diff-report.json and diff-report.html here.",
)
def diff(before: Path, after: Path, allow: Path | None, report_dir: Path | None) -> int:
    """Compare two snapshots (a target file is snapshotted now); exit 1 on a breaking difference."""
    from canvas_ai_harness.snapshot.run import run_diff

    result = run_diff(
        before,
        after,
        allow=allow,
        report_dir=report_dir,
        echo=lambda line: click.echo(f"diff: {line}", err=True),
        argv=typed_command(),
    )
    click.echo(result.text)
    return result.exit_code
