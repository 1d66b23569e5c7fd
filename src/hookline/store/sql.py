"""SQL kept in files: migrations per dialect and named query blocks.

``queries/<dialect>.sql`` holds blocks that start with a line ``-- name: some_query``; both
dialects use the same names so the two stores read alike. Migrations are
``migrations/<dialect>/NNNN_what.sql``, applied in number order, forward only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


@cache
def queries(dialect: str) -> dict[str, str]:
    """The named query blocks of one dialect."""
    text = resources.files("hookline.store").joinpath("queries", f"{dialect}.sql").read_text()
    parts = _NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise RuntimeError(f"query {name!r} defined twice in {dialect}.sql")
        blocks[name] = body.strip().rstrip(";")
    return blocks


@cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """All migrations of one dialect, in order."""
    folder = resources.files("hookline.store").joinpath("migrations", dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {dialect}")
    return tuple(found)
