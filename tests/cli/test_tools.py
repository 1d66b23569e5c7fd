"""``hookline listen``, ``verify`` and ``emit`` as real processes."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.cli.conftest import Result, clean_env, hookline_command
from tests.docs.processes import Spawned, hookline_serve, spawned, wait_for

from hookline.cli.main import run_cli
from hookline.signing import SIGNATURE_HEADER, sign

SECRET = "listen-secret-0123456789"
BODY = json.dumps(
    {"id": "evt_1", "event": "ReportPublished", "data": {"title": "Zoë's café ✓"}},
    separators=(",", ":"),
    ensure_ascii=False,
).encode("utf-8")
URL_LINE = re.compile(r"^Webhook URL: (http://127\.0\.0\.1:(\d+)/)$", re.MULTILINE)


@contextlib.contextmanager
def listen(tmp_path: Path, *args: str, name: str = "listen") -> Iterator[tuple[Spawned, str]]:
    """``hookline listen --port 0 ARGS``, once it printed its URL; stopped on exit."""
    env = {**clean_env(tmp_path), "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    with spawned(hookline_command("listen", "--port", "0", *args), env, tmp_path, name) as proc:
        found = wait_for(lambda: proc.alive() and URL_LINE.search(proc.stderr), 15, "the URL")
        yield proc, found.group(1)


@pytest.fixture
def cli(monkeypatch, tmp_path) -> Iterator[Callable[..., Result]]:
    """``cli(*args, env={...})`` runs one command in this process (fast) and returns its
    :class:`Result`; the environment has no ``HOOKLINE_*`` but an SQLite file in ``tmp_path``."""
    for name in [n for n in os.environ if n.startswith("HOOKLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOOKLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'hookline.db'}")
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            with (
                contextlib.redirect_stdout(io.StringIO()) as out,
                contextlib.redirect_stderr(io.StringIO()) as err,
            ):
                code = run_cli(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[tuple[Spawned, str]]:
    """``hookline listen --secret SECRET`` on a free port, and its URL."""
    with listen(tmp_path, "--secret", SECRET) as started:
        yield started


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + "hook", content=body, headers=headers, timeout=10, trust_env=False)


def hookline_headers(signature: str | None, delivery: str = "dlv_test_1") -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Hookline-Event": "ReportPublished",
        "X-Hookline-Delivery": delivery,
        "X-Hookline-Attempt": "3",
        "X-Hookline-Webhook": "wh_test",
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return headers


def blocks(stdout: str) -> list[str]:
    """The printed deliveries, one text block each (each starts with a rule line)."""
    return [b for b in re.split(r"\n(?=\d\d:\d\d:\d\d\.\d{3} )", stdout.strip()) if b]


def test_listen_prints_where_to_point_the_webhook_and_each_delivery(listening):
    proc, url = listening
    assert "HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8" in proc.stderr

    assert post(url, BODY, hookline_headers(sign(SECRET, BODY))).status_code == 200
    assert (
        post(url, BODY, hookline_headers(sign("not-the-secret", BODY), "dlv_2")).status_code == 200
    )
    assert post(url, BODY, hookline_headers(None, "dlv_3")).status_code == 200
    printed = wait_for(lambda: len(blocks(proc.stdout)) == 3 and blocks(proc.stdout), 10, "3")

    valid, invalid, unsigned = printed
    assert "POST /hook" in valid.splitlines()[0]
    assert re.search(r"^event\s+ReportPublished$", valid, re.MULTILINE)
    assert re.search(r"^delivery\s+dlv_test_1$", valid, re.MULTILINE)
    assert re.search(r"^attempt\s+3$", valid, re.MULTILINE)
    assert re.search(r"^webhook\s+wh_test$", valid, re.MULTILINE)
    assert re.search(r"^signature\s+valid$", valid, re.MULTILINE)
    assert re.search(r"^answer\s+200$", valid, re.MULTILINE)
    assert '  "data": {\n    "title": "Zoë\'s café ✓"\n  }' in valid  # pretty, non-ASCII kept
    assert re.search(r"^signature\s+invalid$", invalid, re.MULTILINE)
    assert re.search(r"^signature\s+unsigned$", unsigned, re.MULTILINE)

    assert proc.stop(signal.SIGTERM) == 0
    assert "Traceback" not in proc.stderr


def test_listen_answers_the_status_and_delay_asked(tmp_path):
    with listen(tmp_path, "--status", "500", "--delay", "0.3") as (proc, url):
        assert "answering 500 after 0.3 s" in proc.stderr
        assert "signatures are shown as 'not checked'" in proc.stderr
        started = time.monotonic()
        answer = post(url, BODY, hookline_headers(sign(SECRET, BODY)))
        assert answer.status_code == 500
        assert time.monotonic() - started >= 0.3
        block = wait_for(lambda: blocks(proc.stdout), 10, "the delivery")[0]
        assert re.search(r"^signature\s+not checked$", block, re.MULTILINE)
        assert re.search(r"^answer\s+500 after 0.3 s$", block, re.MULTILINE)


def test_listen_refuses_bad_options_and_a_busy_port_in_one_line(cli):
    for args in (["--status", "99"], ["--status", "600"], ["--delay", "-1"], ["--port", "70000"]):
        result = cli("listen", *args)
        assert result.one_error_line().startswith("hookline: "), args
        assert result.code == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("listen", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in result.one_error_line()
    assert result.code == 1


def test_verify_exit_codes(cli, tmp_path):
    (tmp_path / "body.json").write_bytes(BODY)
    signature = sign(SECRET, BODY)

    valid = cli("verify", "--secret", SECRET, "--signature", signature, "body.json")
    assert valid.ok() == "valid\n"
    upper = cli("verify", "--secret", SECRET, "--signature", signature.upper(), "body.json")
    assert upper.ok() == "valid\n"
    from_env = cli(
        "verify", "--signature", signature, "body.json", env={"HOOKLINE_WEBHOOK_SECRET": SECRET}
    )
    assert from_env.ok() == "valid\n"

    wrong = cli("verify", "--secret", "other-secret", "--signature", signature, "body.json")
    assert (wrong.code, wrong.stdout) == (1, "invalid\n")
    assert "does not match" in wrong.stderr
    short = cli("verify", "--secret", SECRET, "--signature", "abc", "body.json")
    assert (short.code, short.stdout) == (1, "invalid\n")
    assert "64 hex characters" in short.stderr

    (tmp_path / "edited.json").write_bytes(BODY + b"\n")  # what an editor does
    edited = cli("verify", "--secret", SECRET, "--signature", signature, "edited.json")
    assert edited.code == 1
    assert "trailing newline" in edited.stderr

    missing = cli("verify", "--secret", SECRET, "--signature", signature, "nope.json")
    assert "cannot read nope.json" in missing.one_error_line()
    assert missing.code == 2
    no_secret = cli("verify", "--signature", signature, "body.json")
    assert no_secret.code == 2
    assert "Traceback" not in no_secret.stderr


def test_verify_reads_stdin(tmp_path):
    command = hookline_command("verify", "--secret", SECRET, "--signature", sign(SECRET, BODY))
    done = subprocess.run(
        command, input=BODY, env=clean_env(tmp_path), capture_output=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout) == (0, b"valid\n")


def test_emit_prints_the_answer_alone_on_stdout(cli):
    missing = cli("emit", "ReportPublished")
    assert "hookline tenant create default" in missing.one_error_line()
    assert missing.code == 1

    cli("tenant", "create", "default").ok()
    result = cli("emit", "ReportPublished", "--client", "c1", "--data", '{"n": "é"}')
    answer = json.loads(result.ok())
    assert set(answer) == {"id", "deliveries"}
    assert answer["id"].startswith("evt_")
    assert answer["deliveries"] == 0
    assert "no enabled webhook" in result.stderr

    again = cli("emit", "ReportPublished", "--idempotency-key", "k1")
    replay = cli("emit", "ReportPublished", "--idempotency-key", "k1")
    assert replay.ok() == again.ok()
    assert "replayed" in replay.stderr

    for args in (
        ["NoSuchEvent"],
        ["ReportPublished", "--data", "[1]"],
        ["ReportPublished", "--data", "{"],
    ):
        bad = cli("emit", *args)
        assert bad.one_error_line().startswith("hookline: "), args
        assert bad.code == 2


@pytest.mark.parametrize("command", ["emit", "verify", "listen"])
def test_help_has_examples_and_exit_codes(cli, command):
    out = cli(command, "--help", env={"HOOKLINE_WEBHOOK_SECRET": "secret-in-env"}).ok()
    assert "Examples:" in out
    assert "Exit codes:" in out
    assert f"hookline {command} " in out
    assert "secret-in-env" not in out
    expected_variable = "HOOKLINE_DATABASE_URL" if command == "emit" else "HOOKLINE_WEBHOOK_SECRET"
    assert expected_variable in out


def test_emit_to_a_webhook_served_by_hookline_reaches_listen(tmp_path):
    """The local workflow of the README: serve, listen, point a webhook at it, emit."""
    serve_dir = tmp_path / "serve"
    serve_dir.mkdir()
    with (
        hookline_serve(serve_dir) as (api, _),
        listen(tmp_path, "--secret", SECRET) as (proc, url),
    ):
        webhook_id = api.webhook(url, SECRET)
        env = {
            **clean_env(tmp_path),
            "HOOKLINE_DATABASE_URL": f"sqlite:///{serve_dir}/hookline.db",
        }
        emitted = subprocess.run(
            hookline_command("emit", "ReportPublished", "--data", '{"reportId": "r-1"}'),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert emitted.returncode == 0, emitted.stderr
        answer = json.loads(emitted.stdout)
        assert answer["deliveries"] == 1
        delivery = api.delivery(answer["id"], webhook_id)
        assert delivery["status"] == "succeeded"
        block = wait_for(lambda: blocks(proc.stdout), 10, "the delivery")[0]
        assert re.search(rf"^delivery\s+{delivery['id']}$", block, re.MULTILINE)
        assert re.search(r"^signature\s+valid$", block, re.MULTILINE)
        assert '"reportId": "r-1"' in block
