"""Secrets (contract 2, 3, 4): webhook secrets and API keys never appear in an API answer (except
``GET /webhooks/{id}/secret``), never in a log line, and webhook secrets are encrypted at rest.

* Answers: a whole scenario (create, read, list, patch, publish, deliveries that succeed and
  fail, attempt logs, test attempts, resend, invalid requests that carry secrets, the docs and
  metrics) is run through the real app; every answer's raw text is scanned for every secret
  and API key used, in plain and JSON-escaped form.
* Logs: the same scenario runs with a handler on the root logger at DEBUG that keeps every
  record (message, arguments, traceback and extra attributes); and a real ``hookline serve``
  process at ``HOOKLINE_LOG_LEVEL=debug`` is taken through a similar scenario over HTTP, and its
  stderr and stdout are scanned.
* At rest: ``webhooks.secret_enc`` is read around the store (sqlite3 / asyncpg) on both stores,
  and the whole database is scanned for the plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tests.api.conftest import Account
from tests.delivery.conftest import Receivers
from tests.security.conftest import (
    BOTH,
    DELIVERIES,
    EVENTS,
    LOGS,
    ONLY_127_0_0_1,
    SECRET_KEY,
    SQLITE,
    TEST,
    WEBHOOKS,
    Stack,
    StackFactory,
    eventually,
    open_stack,
)

from hookline.secretbox import SecretBox, SecretBoxError

# Every webhook secret the scenarios use; each distinctive enough that a hit means a leak.
CREATED = "whsec-created-Kq81xPz"
UNICODE = "whsec-sécret-ünïcode-✓-77"
PATCHED = "whsec-patched-Vb52mLw"
ADHOC = "whsec-adhoc-test-Hn33qRt"
REJECTED_LONG = "whsec-rejected-long-" + "Zq9" * 90  # 290 chars: over the 256 limit
REJECTED_SHORT = "Rj7!xQ"  # 6 chars: under the 8 minimum
REJECTED_CONTROL = "whsec-rejected-\x07-control"
SECRETS = [CREATED, UNICODE, PATCHED, ADHOC, REJECTED_LONG, REJECTED_SHORT, REJECTED_CONTROL]


def forms(value: str) -> set[str]:
    """The ways a value could show up in text: as is, JSON-escaped (both ASCII modes)."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


def leaks(text: str, values: list[str]) -> list[str]:
    """The values (any form) that occur in ``text``."""
    return [value for value in values if any(form in text for form in forms(value))]


def keys_of(account: Account) -> list[str]:
    return [
        headers["Authorization"].removeprefix("Bearer ")
        for headers in [account.admin, account.publisher, account.viewer, account.revoked]
    ]


class Transcript:
    """Every answer of a scenario, by request."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.answers: list[tuple[str, httpx.Response]] = []

    async def call(self, method: str, path: str, expect: int, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (method, path, response.text)
        self.answers.append((f"{method} {path}", response))
        return response

    def text(self, *, but: str = "/secret") -> str:
        """All answers (headers and bodies) except those whose request contains ``but``."""
        return "\n".join(
            f"{request}\n{response.headers}\n{response.text}"
            for request, response in self.answers
            if but not in request
        )


async def scenario(stack: Stack, receivers: Receivers, acme: Account) -> Transcript:
    """Everything a tenant can do that touches secrets, through the API."""
    api, admin, viewer = Transcript(stack.client), acme.admin, acme.viewer
    good = await receivers.start()
    failing = await receivers.start()
    failing.reply(500, b"receiver failed")
    stack.resolver.answers["good.test"] = ["127.0.0.1"]
    stack.resolver.answers["flip.test"] = ["127.0.0.1"]

    def body(url: str, **fields: Any) -> dict[str, Any]:
        return {"name": "secrets", "url": url, "events": ["ReportPublished"], **fields}

    # Webhooks with secrets: created, read, listed.
    response = await api.call(
        "POST", WEBHOOKS, 201, headers=admin, json=body(good.url(name="good.test"), secret=CREATED)
    )
    signed = response.json()
    assert signed["hasSecret"] is True
    failing_hook = (
        await api.call(
            "POST", WEBHOOKS, 201, headers=admin, json=body(failing.url(), secret=UNICODE)
        )
    ).json()
    flipping = (
        await api.call(
            "POST",
            WEBHOOKS,
            201,
            headers=admin,
            json=body(f"http://flip.test:{good.port}/flip", secret=CREATED),
        )
    ).json()
    closed = (
        await api.call(
            "POST", WEBHOOKS, 201, headers=admin, json=body("http://127.0.0.1:9/", secret=ADHOC)
        )
    ).json()
    for secret in [REJECTED_LONG, REJECTED_SHORT, REJECTED_CONTROL]:
        await api.call("POST", WEBHOOKS, 400, headers=admin, json=body(good.url(), secret=secret))
    await api.call("POST", WEBHOOKS, 400, headers=admin, json=body("ftp://x", secret=CREATED))
    for headers in [admin, viewer]:
        await api.call("GET", WEBHOOKS, 200, headers=headers)
        await api.call("GET", f"{WEBHOOKS}/{signed['id']}", 200, headers=headers)
    await api.call("GET", f"{WEBHOOKS}/{signed['id']}/secret", 403, headers=viewer)

    # Deliveries: success, HTTP failure, connection refused, refused destination (rebinding).
    stack.resolver.answers["flip.test"] = ["127.0.0.2"]
    await api.call(
        "POST",
        EVENTS,
        202,
        headers={**acme.publisher, "Idempotency-Key": "secrets-1"},
        json={"event": "ReportPublished", "data": {"n": 1}},
    )
    await api.call(
        "POST",
        EVENTS + "/batch",
        202,
        headers=acme.publisher,
        json={"events": [{"event": "ReportPublished", "data": {"n": 2}}]},
    )

    async def settled() -> bool:
        page = (await stack.client.get(DELIVERIES, headers=admin, params={"limit": 200})).json()
        return len(page["data"]) == 8 and all(
            d["status"] in ("succeeded", "failed") for d in page["data"]
        )

    await eventually(settled, timeout=15)
    deliveries = (await api.call("GET", DELIVERIES, 200, headers=viewer)).json()["data"]
    for delivery in deliveries:
        await api.call("GET", f"{DELIVERIES}/{delivery['id']}", 200, headers=viewer)
    assert {d["status"] for d in deliveries} == {"succeeded", "failed"}

    # Test attempts: stored webhooks and ad-hoc URLs with a secret; refusals.
    for webhook in [signed, failing_hook, closed]:
        await api.call("POST", TEST, 200, headers=admin, json={"webhookId": webhook["id"]})
    await api.call("POST", TEST, 200, headers=admin, json={"url": failing.url(), "secret": ADHOC})
    await api.call(
        "POST", TEST, 400, headers=admin, json={"url": good.url(), "secret": REJECTED_LONG}
    )
    await api.call(
        "POST", TEST, 400, headers=admin, json={"url": "http://10.0.0.1/", "secret": ADHOC}
    )
    await api.call("POST", TEST, 400, headers=admin, json={"webhookId": flipping["id"]})

    # Logs, everywhere they are served.
    await api.call("GET", LOGS, 200, headers=viewer, params={"limit": 200})
    for webhook in [signed, failing_hook, flipping, closed]:
        await api.call("GET", f"{WEBHOOKS}/{webhook['id']}/logs", 200, headers=viewer)

    # Secret changes.
    path = f"{WEBHOOKS}/{signed['id']}"
    await api.call("PATCH", path, 200, headers=admin, json={"secret": PATCHED})
    await api.call("PATCH", path, 400, headers=admin, json={"secret": REJECTED_CONTROL})
    await api.call("PATCH", path, 400, headers=admin, json={"secret": REJECTED_SHORT, "x": 1})
    await api.call(
        "PATCH", f"{WEBHOOKS}/{failing_hook['id']}", 200, headers=admin, json={"secret": None}
    )
    await api.call("GET", path, 200, headers=admin)

    # Resend, with the new secret.
    first = next(d for d in deliveries if d["webhookId"] == signed["id"])
    await api.call("POST", f"{DELIVERIES}/{first['id']}/resend", 202, headers=admin)
    await eventually(lambda: len(good.requests) >= 4, timeout=10)

    # Wrong keys: revoked, unknown, a secret used as a key.
    for headers in [acme.revoked, {"Authorization": f"Bearer {CREATED}"}]:
        await api.call("GET", WEBHOOKS, 401, headers=headers)

    # The documents.
    for page in ["/openapi.json", "/docs", "/metrics", "/readyz", "/healthz"]:
        await api.call("GET", page, 200)

    # The secret endpoint does answer the secret: the scan below would see one.
    revealed = await api.call("GET", f"{path}/secret", 200, headers=admin)
    assert revealed.json() == {"secret": PATCHED}
    assert leaks(revealed.text, SECRETS) == [PATCHED]
    unsigned = await api.call("GET", f"{WEBHOOKS}/{failing_hook['id']}/secret", 200, headers=admin)
    assert unsigned.json() == {"secret": None}

    # Receivers get signatures, never secrets.
    for receiver in [good, failing]:
        for got in receiver.requests:
            assert leaks(f"{got.headers}\n{got.body.decode()}", SECRETS) == []
    return api


class Keep(logging.Handler):
    """Keeps every record."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        lines = []
        for record in self.records:
            lines.append(self.format(record))  # message, traceback and stack included
            lines.append(repr(record.args))
            lines.append(repr(vars(record)))  # extra attributes a JSON formatter would print
        return "\n".join(lines)


@contextmanager
def every_log_record() -> Iterator[Keep]:
    root = logging.getLogger()
    hookline = logging.getLogger("hookline")
    keep = Keep()
    saved = (root.level, hookline.level)
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    hookline.setLevel(logging.DEBUG)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(saved[0])
        hookline.setLevel(saved[1])


@BOTH
async def test_no_secret_or_key_in_any_answer_or_log_record(
    make_stack: StackFactory, receivers: Receivers
):
    with every_log_record() as records:
        stack = await make_stack(allowed=ONLY_127_0_0_1, engine=True)
        acme = await stack.account("acme")
        transcript = await scenario(stack, receivers, acme)
        await stack.stop_engine()
    keys = keys_of(acme)
    assert len(transcript.answers) > 40
    assert leaks(transcript.text(), SECRETS + keys) == []
    logged = records.text()
    assert records.records, "the handler captured nothing: the check would be vacuous"
    assert "HTTP Request: POST" in logged  # httpx's INFO line for every API call
    assert leaks(logged, SECRETS + keys + [SECRET_KEY]) == []


# --- a real `hookline serve` ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@SQLITE
async def test_no_secret_or_key_in_the_output_of_a_real_serve(
    database_url: str, receivers: Receivers, tmp_path: Path
):
    # Keys made beforehand on the same database, so that no formatter knows them.
    setup = await open_stack(database_url)
    try:
        acme = await setup.account("acme")
    finally:
        await setup.close()
    admin_key = "serve-env-admin-key-Gx71bq0"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=database_url,
        HOOKLINE_ADMIN_KEY=admin_key,
        HOOKLINE_SECRET_KEY=SECRET_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.1/32",
        HOOKLINE_LOG_LEVEL="debug",
        HOOKLINE_PORT=str(port),
        HOOKLINE_DELIVERY_TIMEOUT="1",
        HOOKLINE_MAX_RETRIES="1",
        HOOKLINE_RETRY_BASE_DELAY="0.05",
    )
    stderr_path, stdout_path = tmp_path / "serve.err", tmp_path / "serve.out"
    with stderr_path.open("wb") as err, stdout_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookline", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=err,
        )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False
        ) as client:
            await wait_healthy(client, process, stderr_path, port)
            await serve_scenario(client, receivers, acme)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    except Exception as exc:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise AssertionError(f"{exc!r}; stderr of hookline serve:\n{tail}") from exc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    stdout = stdout_path.read_text(encoding="utf-8", errors="replace")
    assert f"on http://127.0.0.1:{port}" in stderr  # really the process's stderr
    everything = [*keys_of(acme), admin_key, SECRET_KEY, *SECRETS]
    assert leaks(stderr, everything) == [], stderr[-3000:]
    assert leaks(stdout, everything) == [], stdout[-3000:]


async def wait_healthy(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], stderr: Path, port: int
) -> None:
    """Until this process (not whatever else might hold the port) answers /healthz."""
    deadline = time.monotonic() + 20
    announced = f"on http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        assert process.poll() is None, "hookline serve exited"
        try:
            up = (await client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            up = False
        if up and announced in stderr.read_text(encoding="utf-8", errors="replace"):
            await asyncio.sleep(0.2)
            assert process.poll() is None, "hookline serve exited (port taken?)"
            return
        await asyncio.sleep(0.1)
    raise AssertionError("hookline serve did not come up")


async def serve_scenario(client: httpx.AsyncClient, receivers: Receivers, acme: Account) -> None:
    good = await receivers.start()
    failing = await receivers.start()
    failing.reply(500, b"nope")
    admin = acme.admin

    async def create(url: str, secret: str | None, expect: int = 201) -> dict[str, Any]:
        body = {"name": "serve", "url": url, "events": ["ReportPublished"], "secret": secret}
        response = await client.post(WEBHOOKS, headers=admin, json=body)
        assert response.status_code == expect, response.text
        return dict(response.json())

    signed = await create(good.url(), CREATED)
    failing_hook = await create(failing.url(), UNICODE)
    await create("http://127.0.0.1:9/closed", ADHOC)
    await create(good.url(), REJECTED_LONG, 400)
    await create(good.url(), REJECTED_CONTROL, 400)
    await create("http://127.0.0.2:9/refused", CREATED, 400)
    for n in range(3):
        response = await client.post(
            EVENTS, headers=acme.publisher, json={"event": "ReportPublished", "data": {"n": n}}
        )
        assert response.status_code == 202, response.text

    async def settled() -> bool:
        page = (await client.get(DELIVERIES, headers=acme.viewer)).json()["data"]
        return len(page) == 9 and all(d["status"] in ("succeeded", "failed") for d in page)

    await eventually(settled, timeout=20)
    for body in [
        {"webhookId": signed["id"]},
        {"webhookId": failing_hook["id"]},
        {"url": failing.url(), "secret": ADHOC},
        {"url": good.url(), "secret": REJECTED_SHORT},
    ]:
        await client.post(TEST, headers=admin, json=body)
    path = f"{WEBHOOKS}/{signed['id']}"
    assert (await client.patch(path, headers=admin, json={"secret": PATCHED})).status_code == 200
    await client.patch(path, headers=admin, json={"secret": REJECTED_LONG})
    assert (await client.get(f"{path}/secret", headers=admin)).json() == {"secret": PATCHED}
    await client.get(LOGS, headers=acme.viewer)
    await client.get(WEBHOOKS, headers=acme.revoked)
    await client.get(WEBHOOKS, headers={"Authorization": f"Bearer {CREATED}"})
    await client.get("/ui/webhooks", headers=admin)
    assert (await client.get("/metrics")).status_code == 200


# --- at rest ---------------------------------------------------------------------------------


def encodings(secret: str) -> set[str]:
    """Plaintext, hex, and base64 (standard and URL-safe) at each of the three byte
    alignments the secret can have inside a longer encoded value (whole groups only)."""
    raw = secret.encode()
    found = {secret, raw.hex()}
    for skip in range(3):
        part = raw[skip:]
        whole = part[: len(part) // 3 * 3]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.add(encode(whole).decode())
    return found


async def whole_database_text(stack: Stack) -> str:
    """Every byte the store has written (SQLite), or every row of every table (PostgreSQL)."""
    url = stack.services.settings.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        files = sorted(path.parent.glob(path.name + "*"))
        assert files
        return "\n".join(f.read_bytes().decode("latin-1") for f in files)
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        rows = []
        for table in tables:
            name = table["table_name"].replace('"', '""')
            rows += [r[0] for r in await conn.fetch(f'SELECT t::text FROM "{name}" t')]
        assert rows
        return "\n".join(rows)
    finally:
        await conn.close()


@BOTH
async def test_secrets_are_encrypted_at_rest(make_stack: StackFactory, receivers: Receivers):
    stack = await make_stack(allowed=ONLY_127_0_0_1)
    acme = await stack.account("acme")
    api = stack.api
    receiver = await receivers.start()
    one = await api.create(acme.admin, url=receiver.url(), secret=CREATED)
    two = await api.create(acme.admin, url=receiver.url(), secret=CREATED)
    three = await api.create(acme.admin, url=receiver.url(), secret=UNICODE)
    unsigned = await api.create(acme.admin, url=receiver.url())
    response = await stack.client.post(
        TEST, headers=acme.admin, json={"url": receiver.url(), "secret": ADHOC}
    )
    assert response.json()["success"] is True

    right = SecretBox(SECRET_KEY)
    wrong = SecretBox("another-deployment-secret-key-" + "w" * 20)
    columns = {}
    for webhook, secret in [(one, CREATED), (two, CREATED), (three, UNICODE)]:
        stored = await api.raw_secret_column(webhook["id"])
        assert stored is not None
        columns[webhook["id"]] = stored
        for form in encodings(secret):
            assert form not in stored, (form, stored)
        assert right.open(stored, webhook["id"]) == secret
        with pytest.raises(SecretBoxError):
            wrong.open(stored, webhook["id"])
        with pytest.raises(SecretBoxError):
            right.open(stored, unsigned["id"])  # bound to its own row
    assert columns[one["id"]] != columns[two["id"]]  # a fresh nonce each time
    assert await api.raw_secret_column(unsigned["id"]) is None

    # A changed secret is sealed again; a removed one is gone.
    path = f"{WEBHOOKS}/{one['id']}"
    assert (await stack.client.patch(path, headers=acme.admin, json={"secret": PATCHED})).is_success
    stored = await api.raw_secret_column(one["id"])
    assert stored not in (None, columns[one["id"]])
    assert right.open(stored, one["id"]) == PATCHED
    path = f"{WEBHOOKS}/{two['id']}"
    assert (await stack.client.patch(path, headers=acme.admin, json={"secret": None})).is_success
    assert await api.raw_secret_column(two["id"]) is None

    # Nowhere in the database: no secret, no API key, in any encoding.
    everything = await whole_database_text(stack)
    for value in [CREATED, UNICODE, PATCHED, ADHOC, *keys_of(acme)]:
        for form in encodings(value):
            assert form not in everything, form
    assert columns[three["id"]] in everything  # the scan does see the ciphertext


def test_encodings_catch_an_embedded_secret():
    """The at-rest check can fail: the secret inside a longer encoded value is caught."""
    for prefix in [b"", b"x", b"xy", b"xyz"]:
        value = prefix + UNICODE.encode() + b"tail"
        for text in [
            base64.b64encode(value).decode(),
            base64.urlsafe_b64encode(value).decode(),
            value.hex(),
            value.decode(),
        ]:
            assert any(form in text for form in encodings(UNICODE)), (prefix, text)
