"""The `guard` command: a thin shell over the library. Heavy imports happen
inside commands so `guard --help` stays fast."""

from __future__ import annotations

import logging
import os
import signal
import sys

import click
import typer
from rich.markup import escape

from guard.cli import audit, augment, deid, federate, profile, report
from guard.cli._common import console, console_err, version_text
from guard.core.errors import GuardError, Interrupted


class _GuardGroup(typer.core.TyperGroup):
    """Turns library errors into a one-line message and the error's exit code; Ctrl-C
    that no command handled into exit 130; a missing optional package into the
    `pip install 'guard[extra]'` it needs (exit 14, DEPENDENCY)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            self._fail(ctx, Interrupted(signum, f"stopped by {signal.Signals(signum).name}"))
        except GuardError as e:
            self._fail(ctx, e)
        except ModuleNotFoundError as e:  # an extra that is not installed: say which one to install
            from guard.api import missing_dependency

            dependency = missing_dependency(e)
            if dependency is None:
                raise
            self._fail(ctx, dependency)
        return None

    @staticmethod
    def _fail(ctx: click.Context, e: GuardError) -> None:
        console_err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        ctx.exit(e.exit_code)


app = typer.Typer(
    name="guard",
    cls=_GuardGroup,
    help="De-identify corpora, train privately, audit and report on language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors (and what --json asks for)."),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print guard's version and its key libraries' and exit.",
    ),
) -> None:
    console.quiet = quiet  # summaries and progress; errors go to console_err
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))


deid.register(app)
federate.register(app)
audit.register(app)
report.register(app)
profile.register(app)
augment.register(app)


def main() -> None:
    """Console-script entry point."""
    # transformers draws a "Loading weights" bar for every model it loads (clients, reference
    # models, audits): noise in a terminal, and it reads this once, at its import
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()


__all__ = ["app", "main"]
