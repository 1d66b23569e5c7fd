"""The systemd units and the environment file in deploy/ (docs/operations.md ships them).

The structural checks always run: each unit parses as INI and has the keys a Hookline unit
needs, and the environment file names every setting and loads into ``Settings``. Where
``systemd-analyze`` exists, ``systemd-analyze verify`` runs on the units too (with ExecStart
pointing at this checkout's ``hookline``, since /opt/hookline does not exist here), and any
complaint about them fails the test.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.docs.processes import ROOT

from hookline.config import SETTINGS, Settings

DEPLOY = ROOT / "deploy"
INSTALLED_BINARY = "/opt/hookline/bin/hookline"
UNITS = {  # unit file -> the hookline command it runs
    "hookline-serve.service": "serve",
    "hookline-api.service": "api",
    "hookline-worker@.service": "worker",
}
ENV_FILE = "/etc/hookline/hookline.env"


def parse_unit(path: Path) -> configparser.ConfigParser:
    # systemd allows repeated keys (the last one wins for these); keys are case-sensitive.
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


@pytest.mark.parametrize(("name", "command"), UNITS.items())
def test_unit_parses_and_has_the_required_keys(name: str, command: str) -> None:
    unit = parse_unit(DEPLOY / name)
    assert unit.sections() == ["Unit", "Service", "Install"]
    assert unit["Unit"]["Description"]
    assert "network-online.target" in unit["Unit"]["After"]
    service = unit["Service"]
    assert service["ExecStart"] == f"{INSTALLED_BINARY} {command}"
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["User"] == "hookline"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a bad setting: a restart won't fix it
    assert service["KillSignal"] == "SIGTERM"  # Hookline's graceful stop
    if name == "hookline-serve.service":  # serve stops its delivery process in order
        assert service["KillMode"] == "mixed"
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_only_serve_owns_a_state_directory_for_sqlite() -> None:
    serve = parse_unit(DEPLOY / "hookline-serve.service")["Service"]
    assert serve["StateDirectory"] == "hookline"
    assert serve["Environment"] == ("HOOKLINE_DATABASE_URL=sqlite:////var/lib/hookline/hookline.db")
    for name in ("hookline-api.service", "hookline-worker@.service"):
        assert "StateDirectory" not in parse_unit(DEPLOY / name)["Service"], name


def env_example() -> tuple[dict[str, str], set[str]]:
    """The example's active assignments, and every variable it names (commented or not)."""
    active: dict[str, str] = {}
    named: set[str] = set()
    for line in (DEPLOY / "hookline.env.example").read_text(encoding="utf-8").splitlines():
        text = line.strip()
        assignment = text.lstrip("#")
        name, equals, value = assignment.partition("=")
        if equals and name.startswith("HOOKLINE_") and name.isupper() and " " not in name:
            named.add(name)
            if not text.startswith("#"):
                active[name] = value
    return active, named


def test_env_example_names_every_setting_and_loads() -> None:
    active, named = env_example()
    assert {s.env for s in SETTINGS} <= named
    settings = Settings.from_env(active)
    assert settings.host == "127.0.0.1"
    assert settings.worker_concurrency == 256
    for value in active.values():
        assert value == value.strip()
        assert not value.startswith(('"', "'")), "systemd would keep the quotes"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: only the structural checks above ran")
    here = str(Path(sys.executable).parent / "hookline")
    assert Path(here).exists(), here
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_BINARY, here), encoding="utf-8")
    targets = [str(tmp_path / n) for n in UNITS if "@" not in n]
    targets.append(str(tmp_path / "hookline-worker@1.service"))  # an instance of the template
    done = subprocess.run(
        [analyze, "verify", *targets], capture_output=True, text=True, timeout=60, check=False
    )
    ours = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "hookline" in line or str(tmp_path) in line
    ]
    assert done.returncode == 0, done.stdout + done.stderr
    assert not ours, "\n".join(ours)
