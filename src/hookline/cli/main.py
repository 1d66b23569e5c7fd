"""``hookline``: the entry point, and the one place where errors become exit codes.

Every failure ends as ONE line on stderr and an exit code; never a traceback:

==== =====================================================================================
code meaning
==== =====================================================================================
0    done
1    the command could not be done: database unreachable, address/port not available, no
     such tenant / key / event type, already exists, or an internal error
     (``hookline: internal error: ...``; ``HOOKLINE_DEBUG=1`` adds its traceback)
2    usage: unknown command or option, a bad setting (environment or option), an invalid
     name or value; ``api`` / ``worker`` refusing to start on SQLite
130  interrupted (Ctrl-C)
==== =====================================================================================

Hookline's own errors print ``hookline: <message>``; click's usage errors keep click's
usual short text. SIGTERM stops a server gracefully with exit 0.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer

from hookline import __version__
from hookline.cli import admin, run, tools
from hookline.errors import ConfigError, HooklineError, ValidationFailed

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "HOOKLINE_DEBUG"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"hookline {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Hookline: self-hosted webhook delivery, signed, retried and logged.

    Settings come from HOOKLINE_* environment variables or the matching options;
    see `hookline serve --help`.
    """


def build_app() -> typer.Typer:
    """The whole command tree (each family of commands registers itself)."""
    # Plain click help (rich_markup_mode=None): rich's help panels cut long option and variable
    # names on narrow or piped output, and the variable behind each option must stay readable.
    app = typer.Typer(
        name="hookline",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    run.register(app)
    admin.register(app)
    tools.register(app)
    return app


def _fail(message: str) -> None:
    line = " ".join(message.split())  # whatever the source said, one line
    print(f"hookline: {line}", file=sys.stderr, flush=True)


def exit_code(error: HooklineError) -> int:
    """2 for what the user wrote wrong (settings, values); 1 for what went wrong."""
    return EXIT_USAGE if isinstance(error, (ConfigError, ValidationFailed)) else EXIT_FAILED


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run one command line; return its exit code. Nothing escapes as a traceback."""
    try:
        value = build_app()(
            args=None if argv is None else list(argv),
            prog_name="hookline",
            standalone_mode=False,
        )
    except (KeyboardInterrupt, typer.Abort):
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # click's usage errors (typer carries its own click)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _fail(exc.format_message())
        return exc.exit_code
    except HooklineError as exc:
        _fail(exc.message)
        return exit_code(exc)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    # Without standalone mode, click returns a command's value, or the code of typer.Exit.
    return value if isinstance(value, int) and not isinstance(value, bool) else EXIT_OK


def main() -> NoReturn:
    """The ``hookline`` console script."""
    sys.exit(run_cli())
