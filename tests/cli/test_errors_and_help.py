"""Bad settings, unreachable databases, refusals, usage errors, help and version."""

from __future__ import annotations

import logging
import os
import socket

import pytest

import hookline as hookline_package
from hookline.cli import main as cli_main
from hookline.config import SETTINGS

LONG_SECRET = "s3cret-passphrase-that-is-long-enough-0123456789"
SQLITE_REFUSAL = (
    "hookline {} needs PostgreSQL: with SQLite, run `hookline serve` (one process owns the file)"
)


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"HOOKLINE_PORT": "abc"}, [], "HOOKLINE_PORT"),
        ({"HOOKLINE_DATABASE_URL": "mysql://x"}, [], "HOOKLINE_DATABASE_URL"),
        ({"HOOKLINE_ALLOWED_NETWORKS": "10.0.0.0/33"}, [], "HOOKLINE_ALLOWED_NETWORKS"),
        ({"HOOKLINE_DELIVERY_TIMEOUT": "-1"}, [], "HOOKLINE_DELIVERY_TIMEOUT"),
        ({"HOOKLINE_SECRET_KEY": "short"}, [], "HOOKLINE_SECRET_KEY"),
        ({"HOOKLINE_LOG_LEVEL": "loud"}, [], "HOOKLINE_LOG_LEVEL"),
        ({}, ["--port", "0"], "--port"),
        ({}, ["--allowed-networks", "10.0.0.0/33"], "--allowed-networks"),
    ],
)
def test_a_bad_setting_stops_serve_with_one_line(hookline, env, args, named):
    result = hookline("serve", *args, env=env)
    line = result.one_error_line()
    assert line.startswith("hookline: ")
    assert named in line
    assert result.code == 2


def test_an_option_wins_over_the_environment_and_is_checked_the_same_way(hookline):
    # A bad environment value that the option replaces does not matter...
    overridden = hookline("migrate", "--database-url", "mysql://x", env={})
    assert "--database-url" in overridden.one_error_line()
    fixed = hookline("migrate", "--database-url", "sqlite:///x.db", env={"HOOKLINE_PORT": "1"})
    assert fixed.ok().startswith("applied ")


@pytest.mark.parametrize("args", [["migrate"], ["tenant", "list"]])
@pytest.mark.parametrize(
    "url", ["postgresql://nobody@127.0.0.1:1/nope", "postgresql://u:hunter2@127.0.0.1:1/db"]
)
def test_unreachable_postgresql_is_one_line_without_the_password(hookline, args, url):
    result = hookline(*args, env={"HOOKLINE_DATABASE_URL": url})
    line = result.one_error_line()
    assert "PostgreSQL" in line
    assert "127.0.0.1:1" in line
    assert "hunter2" not in result.stderr + result.stdout
    assert result.code == 1


@pytest.mark.parametrize("command", ["worker", "api"])
def test_worker_and_api_refuse_sqlite_with_one_line(hookline, command):
    result = hookline(command)
    assert result.one_error_line() == SQLITE_REFUSAL.format(command)
    assert result.code == 2


def test_worker_on_postgresql_needs_the_secret_key(hookline):
    result = hookline("worker", env={"HOOKLINE_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})
    assert "HOOKLINE_SECRET_KEY" in result.one_error_line()
    assert result.code == 2


def test_worker_on_unreachable_postgresql_says_so_in_one_line(hookline):
    env = {
        "HOOKLINE_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/db",
        "HOOKLINE_SECRET_KEY": "k" * 40,
    }
    line = hookline("worker", env=env).one_error_line()
    assert "PostgreSQL" in line
    assert "hunter2" not in line


def test_migrate_applies_then_reports_up_to_date(hookline, tmp_path):
    first = hookline("migrate").ok().splitlines()
    assert first
    assert all(line.startswith("applied 0") for line in first)
    assert (tmp_path / "hookline.db").exists()
    assert hookline("migrate").ok().strip() == "schema is up to date"


def test_module_help_lists_the_commands(hookline):
    out = hookline("--help").ok()
    for command in ("serve", "api", "worker", "migrate", "tenant", "key", "event-type"):
        assert f"  {command} " in out


def test_version(hookline):
    assert hookline("--version").ok().strip() == f"hookline {hookline_package.__version__}"


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_run_help_shows_every_variable_and_no_secret_from_the_environment(hookline, command):
    result = hookline(
        command,
        "--help",
        env={
            "HOOKLINE_SECRET_KEY": LONG_SECRET,
            "HOOKLINE_ADMIN_KEY": "admin-key-from-the-environment",
            "HOOKLINE_DATABASE_URL": "postgresql://u:hunter2@db.example:5432/hooks",
        },
    )
    out = " ".join(result.ok().split())  # help text wraps at the terminal's width
    for setting in SETTINGS:
        assert setting.env in out
        flag = "--" + setting.env.removeprefix("HOOKLINE_").lower().replace("_", "-")
        assert flag in out
        if setting.default:
            assert f"default: {setting.default}]" in out
    assert "--no-require-https" in out
    for secret in (LONG_SECRET, "admin-key-from-the-environment", "hunter2"):
        assert secret not in out + result.stderr


def test_admin_help_shows_database_url(hookline):
    out = hookline("tenant", "list", "--help").ok()
    assert "--database-url" in out
    assert "HOOKLINE_DATABASE_URL" in out


def test_usage_error_is_clicks_short_message(hookline):
    result = hookline("serve", "--no-such-option")
    assert result.code == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr
    unknown = hookline("frobnicate")
    assert unknown.code == 2
    assert "Traceback" not in unknown.stderr


@pytest.fixture
def restore_logging():
    """run_cli (in-process) installs Hookline's log handler; take it out afterwards."""
    root = logging.getLogger()
    before = list(root.handlers), root.level
    yield
    root.handlers[:] = before[0]
    root.setLevel(before[1])


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys, tmp_path, debug):
    async def boom(self):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("hookline.services.accounts.AccountService.list_tenants", boom)
    for name in [n for n in os.environ if n.startswith("HOOKLINE_")]:
        monkeypatch.delenv(name)
    if debug:
        monkeypatch.setenv("HOOKLINE_DEBUG", "1")
    code = cli_main.run_cli(["tenant", "list", "--database-url", f"sqlite:///{tmp_path}/x.db"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[-1] == "hookline: internal error: RuntimeError: boom second line"
    assert ("Traceback" in err) is debug


def test_a_busy_port_is_one_line_before_anything_starts(hookline, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = hookline("serve", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in result.one_error_line()
    assert result.code == 1
    assert not (tmp_path / "hookline.db").exists()
