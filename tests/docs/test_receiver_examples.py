"""The receiver examples of docs/receiving.md, run against real deliveries of ``hookline serve``.

Each example (Python/FastAPI, Node.js, Go) runs as its own process with ``SECRET`` set; a
webhook with that secret points at it; an event with non-ASCII data is published. The example
must answer the real delivery 200 (it answers 200 only to a valid signature) and print it,
refuse forged, unsigned and altered requests with 401, and acknowledge a repeated delivery
without doing its work twice.

Node.js is on the development machines and CI: without ``node`` the Node case is skipped with
one line, or fails when ``HOOKLINE_REQUIRE_NODE=1`` (``.ci/run`` sets it). The Go case runs only
where ``go`` is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.docs.processes import (
    ROOT,
    Api,
    Spawned,
    accepts_connections,
    clean_env,
    free_port,
    hookline_serve,
    spawned,
    wait_for,
)

from hookline.signing import SIGNATURE_HEADER, sign

EXAMPLES = ROOT / "examples" / "receivers"
SECRET = "receiver-example-secret-0123"
DATA = {"title": "Rapport d'audit: Zoë's café ✓", "city": "Kraków", "score": 9.5, "n": 3}
REQUIRE_NODE_ENV = "HOOKLINE_REQUIRE_NODE"


def _command(language: str, port: int, workdir: Path) -> list[str]:
    if language == "python":
        return [
            *(sys.executable, "-m", "uvicorn", "--app-dir", str(EXAMPLES)),
            *("python_fastapi:app", "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning"),
        ]
    if language == "node":
        node = shutil.which("node")
        if node is None:
            message = (
                f"node is not installed: Node receiver example not run ({REQUIRE_NODE_ENV}=1 fails)"
            )
            if os.environ.get(REQUIRE_NODE_ENV) == "1":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        return [node, str(EXAMPLES / "node_receiver.js")]
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed: Go receiver example not run")
    binary = workdir / "go_receiver"
    # Standard library only: no module download, ever. The build cache is the user's (fast
    # after the first build) unless there is no home to keep it in.
    build = clean_env(GOPROXY="off", GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0")
    if "HOME" not in build and "GOCACHE" not in build:
        build.update(GOCACHE=str(workdir / "gocache"), GOPATH=str(workdir / "gopath"))

    done = subprocess.run(
        [go, "build", "-o", str(binary), str(EXAMPLES / "go_receiver.go")],
        env=build,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"go build failed:\n{done.stdout}{done.stderr}"
    return [str(binary)]


@pytest.fixture(scope="module")
def hookline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One ``hookline serve`` for every example (on its own SQLite file)."""
    with hookline_serve(tmp_path_factory.mktemp("serve")) as (api, _):
        yield api


@pytest.fixture(params=["python", "node", "go"])
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Spawned, str]]:
    """A running receiver example and its URL."""
    port = free_port()
    argv = _command(request.param, port, tmp_path)
    env = clean_env(SECRET=SECRET, PORT=str(port))
    with spawned(argv, env, tmp_path, request.param) as proc:
        wait_for(lambda: proc.alive() and accepts_connections(port), 20, f"{request.param} up")
        yield proc, f"http://127.0.0.1:{port}/hookline"


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    sent = httpx.post(url, content=body, headers=headers, timeout=5, trust_env=False)
    return sent.status_code


def _lines(proc: Spawned, prefix: str) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith(prefix)]


def test_example_verifies_a_real_delivery_and_refuses_forgeries(
    hookline: Api, example: tuple[Spawned, str]
) -> None:
    proc, url = example
    client = f"client-{proc.name}"  # one server for every example: each gets its own events
    webhook_id = hookline.webhook(url, SECRET, clientCuids=[client])
    published = hookline.call(
        "POST",
        "/api/internal/events",
        {"event": "ReportPublished", "clientCuid": client, "data": DATA},
        202,
    )
    assert published["deliveries"] == 1
    event_id = published["id"]

    delivery = hookline.delivery(event_id, webhook_id)
    detail = hookline.call("GET", f"/api/internal/deliveries/{delivery['id']}")
    attempts = detail["logs"]
    assert delivery["status"] == "succeeded", detail
    assert len(attempts) == 1, detail
    assert attempts[0]["statusCode"] == 200

    # The example printed the delivery: its id, the event, and the data as sent (non-ASCII).
    expected = f"verified {delivery['id']} ReportPublished {event_id} data="
    printed = wait_for(lambda: _lines(proc, expected), 10, "the example's line")
    assert len(printed) == 1, proc.output()
    assert json.loads(printed[0].removeprefix(expected)) == DATA

    # The same request again (what a retry looks like): acknowledged, not processed twice.
    log: dict[str, Any] = attempts[0]
    body = log["requestBody"].encode("utf-8")
    headers = {**log["requestHeaders"], "X-Hookline-Attempt": "2"}
    assert headers[SIGNATURE_HEADER] == sign(SECRET, body)
    assert _post(url, body, headers) == 200
    forged = {
        "wrong secret": {**headers, SIGNATURE_HEADER: sign("another-secret", body)},
        "not hex": {**headers, SIGNATURE_HEADER: "z" * 64},
        "truncated": {**headers, SIGNATURE_HEADER: sign(SECRET, body)[:-2]},
        "unsigned": {k: v for k, v in headers.items() if k != SIGNATURE_HEADER},
    }
    fresh = {**headers, "X-Hookline-Delivery": "dlv_forged"}
    for name, forged_headers in forged.items():
        assert _post(url, body, {**forged_headers, "X-Hookline-Delivery": "dlv_x"}) == 401, name
    tampered = body.replace(client.encode(), b"client-other")
    assert _post(url, tampered, fresh) == 401, "body changed after signing"
    proc.alive()
    assert len(_lines(proc, expected)) == 1, proc.output()
    assert len(_lines(proc, "rejected:")) == len(forged) + 1, proc.output()
    assert "verified dlv_x" not in proc.stdout
    assert "verified dlv_forged" not in proc.stdout


def test_receiving_md_quotes_the_examples_verbatim() -> None:
    page = (ROOT / "docs" / "receiving.md").read_text(encoding="utf-8")
    quoted = re.findall(r"<!-- quoted from (\S+) -->\n```\w+\n(.*?)```", page, re.DOTALL)
    assert sorted(path for path, _ in quoted) == sorted(
        f"examples/receivers/{name}"
        for name in ("python_fastapi.py", "node_receiver.js", "go_receiver.go")
    )
    for path, code in quoted:
        assert code in (ROOT / path).read_text(encoding="utf-8"), (
            f"{path} changed: update the quote"
        )
