"""The ``canvas-ai-harness`` command: one click group, each subcommand a thin layer over a library call.

    cli/__init__.py   the group, ``main`` (exit codes, one-line errors) and ``run`` (console script)
    cli/options.py    options several commands share, each declared once (load's from its table)
    cli/servers.py    ``mock`` and ``proxy``: serve until stopped
    cli/suites.py     ``contract``, ``load`` and ``check``: test a Canvas, exit with the verdict
    cli/upgrade.py    ``snapshot`` and ``diff``: record a Canvas's answers, compare two records

Exit codes (``exits.py``): 0 pass; 1 the target broke the contract or a threshold; 2 a usage or
configuration error, a broken setup, or the target is unreachable; 3 the harness itself failed (its
traceback goes to a file, the terminal gets one line pointing to it); 130 interrupted. A user error
prints one line, never a traceback. Every option can also be set through the environment variable shown in ``--help``.
"""

from __future__ import annotations

import sys

import click

from canvas_ai_harness import __version__
from canvas_ai_harness.cli.servers import mock, proxy
from canvas_ai_harness.cli.suites import check, contract, load
from canvas_ai_harness.cli.upgrade import diff, snapshot
from canvas_ai_harness.crash import write_traceback
from canvas_ai_harness.errors import HarnessError
from canvas_ai_harness.exits import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from canvas_ai_harness.interrupts import sigterm_as_interrupt

__all__ = ["cli", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="canvas-ai-harness")
def cli() -> None:
    """Contract and load testing for the Canvas LMS AI Conversations API."""


for _command in (mock, proxy, load, contract, check, snapshot, diff):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script's entry point)."""
    try:
        with sigterm_as_interrupt():  # a cancelled CI job stops a run as Ctrl-C does: reports, clean-up, 130
            args = sys.argv[1:] if argv is None else list(argv)
            result = cli.main(args=args, prog_name="canvas-ai-harness", standalone_mode=False, obj={"argv": args})
    except HarnessError as exc:
        click.echo(f"canvas-ai-harness: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("canvas-ai-harness: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of the harness: never a verdict on the target, never a traceback here
        path = write_traceback(exc, context=" ".join(["canvas-ai-harness", *(argv or sys.argv[1:2])][:2]))
        click.echo(
            f"canvas-ai-harness: the harness itself failed ({type(exc).__name__}), not the target; traceback in {path}",
            err=True,
        )
        return EXIT_HARNESS
    return int(result) if isinstance(result, int) else EXIT_OK


def run() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
