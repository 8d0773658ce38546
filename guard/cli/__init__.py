"""The `guard` command: a thin shell over the library. Heavy imports happen
inside commands so `guard --help` stays fast."""

from __future__ import annotations

import logging
import sys

import typer

from guard.cli import deid
from guard.cli._common import console_err
from guard.core.errors import GuardError

app = typer.Typer(
    name="guard",
    help="De-identify corpora, train privately, audit and report on language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))


deid.register(app)


def main() -> None:
    """Entry point: run the app, turning guard errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except GuardError as e:
        console_err.print(f"[bold red]error:[/] {e}", highlight=False, markup=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        console_err.print("aborted")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


__all__ = ["app", "main"]
