"""Printing for the CLI: results on stdout, everything else on stderr.

Stdout carries only what a script may want to capture (a table, a new key, a confirmation);
notes and warnings go to stderr. Tables are rich tables on a terminal and plain,
whitespace-aligned columns (no colour, no box, never wrapped or cut) when piped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hookline.domain.times import iso_ms

_PIPE_WIDTH = 10_000  # wide enough that no row is ever wrapped or truncated when piped


def when(moment: datetime | None) -> str:
    """A time as the API writes it, or ``-`` for none."""
    return iso_ms(moment) if moment is not None else "-"


def yes_no(value: bool) -> str:
    """``yes`` or ``no``."""
    return "yes" if value else "no"


def result(line: str) -> None:
    """One line of result on stdout."""
    typer.echo(line)


def note(line: str) -> None:
    """One line for the human on stderr (never captured by ``$(...)``)."""
    typer.echo(line, err=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print rows under headers on stdout."""
    terminal = sys.stdout.isatty()
    console = Console(
        file=sys.stdout,
        width=None if terminal else _PIPE_WIDTH,
        no_color=not terminal,
        highlight=False,
        emoji=False,
        markup=False,
    )
    grid = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if terminal else "",
    )
    for header in headers:
        grid.add_column(header.upper(), no_wrap=True, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    with console.capture() as captured:
        console.print(grid)
    for line in captured.get().splitlines():
        typer.echo(line.rstrip())
