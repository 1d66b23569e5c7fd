"""Every ``python`` and ``sh`` example of ``docs/publishing.md`` runs against a real server.

Each runs in its own process with ``HOOKLINE_URL`` and ``HOOKLINE_API_KEY`` (a publisher key)
set, as the page says, and ``hookline`` on the PATH; ``json`` and ``text`` blocks are answers,
not examples.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.client.conftest import Server

PAGE = Path(__file__).resolve().parents[2] / "docs" / "publishing.md"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.S | re.M)


def examples(language: str) -> list[str]:
    text = PAGE.read_text("utf-8")
    return [textwrap.dedent(m[3]) for m in FENCE.finditer(text) if m[2] == language]


PYTHON = examples("python")
SHELL = examples("sh")


def run(command: list[str], code: str, server: Server) -> str:
    env = dict(server.env)
    env.update(
        HOOKLINE_URL=server.url,
        HOOKLINE_API_KEY=server.publisher_key,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    done = subprocess.run(
        command,
        input=code,
        env=env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"{code}\n--- stderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip(), code
    return done.stdout


def test_the_page_has_its_examples() -> None:
    assert len(PYTHON) >= 6
    assert any("curl" in block for block in SHELL)
    assert any("hookline emit" in block for block in SHELL)
    assert all("```" not in block for block in PYTHON + SHELL)


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_example_runs(server: Server, code: str) -> None:
    output = run([sys.executable, "-W", "error", "-"], code, server)
    if "NoSuchEvent" in code:
        assert "validation_error" in output


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("code", SHELL, ids=[f"sh-{i}" for i in range(len(SHELL))])
def test_shell_example_runs(server: Server, code: str) -> None:
    output = run(["sh", "-eu"], code, server)
    if "/api/internal/events" in code or "hookline emit" in code:
        for line in output.splitlines():
            assert set(json.loads(line)) == {"id", "deliveries"}
