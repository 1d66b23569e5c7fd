"""Run ``python -m hookline`` as a real subprocess with a controlled environment.

Each test gets an environment without any ``HOOKLINE_*`` variable of the developer's shell,
``HOOKLINE_DATABASE_URL`` pointing at an SQLite file in its temporary directory, and that
directory as the working directory (so a default ``./hookline.db`` can never land in the repo).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

COMMAND_TIMEOUT = 30  # seconds; a command that hangs (e.g. starts serving by mistake) fails


@dataclass(frozen=True)
class Result:
    """What one ``hookline`` run printed and how it ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The non-empty lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_error_line(self) -> str:
        """Assert the run failed with exactly one line on stderr and no traceback; return it."""
        assert self.code != 0, self
        assert "Traceback" not in self.stderr + self.stdout, self
        assert len(self.error_lines) == 1, self
        return self.error_lines[0]

    def ok(self) -> str:
        """Assert the run succeeded; return stdout."""
        assert self.code == 0, self
        assert "Traceback" not in self.stderr, self
        return self.stdout

    def table(self) -> list[list[str]]:
        """Stdout as a table (piped, the CLI prints plain columns): rows of cells, header first."""
        return [line.split() for line in self.ok().splitlines() if line.strip()]

    def row(self, first_cell: str) -> list[str]:
        """The one table row whose first cell is ``first_cell``."""
        found = [row for row in self.table()[1:] if row[0] == first_cell]
        assert len(found) == 1, self
        return found[0]

    def first_cells(self) -> list[str]:
        """The first cell of every row below the header."""
        return [row[0] for row in self.table()[1:]]


Hookline = Callable[..., Result]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The test process's environment minus ``HOOKLINE_*``, on a fresh SQLite file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOOKLINE_")}
    env["HOOKLINE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'hookline.db'}"
    return env


def hookline_command(*args: str) -> list[str]:
    """The command line that runs Hookline from this interpreter."""
    return [sys.executable, "-m", "hookline", *args]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment every subprocess of this test starts from."""
    return clean_env(tmp_path)


@pytest.fixture
def hookline(cli_env: dict[str, str], tmp_path: Path) -> Hookline:
    """``hookline(*args, env={...})`` runs one command and returns its :class:`Result`.

    ``env`` adds to (or, with a None value, removes from) the test's environment.
    """

    def run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
        full = dict(cli_env)
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        proc = subprocess.run(
            hookline_command(*args),
            env=full,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
