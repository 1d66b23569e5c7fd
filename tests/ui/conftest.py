"""The admin web UI (``/ui``) in a real Chromium, against a real ``hookline serve``.

Each test module gets one ``hookline serve`` process on a fresh SQLite file (``server``), one
real loopback receiver (``receiver``) and one headless Chromium (``browser``), all on the
module's event loop: every test module says ``pytestmark = UI`` (the ``ui`` marker plus the
module loop). Each test gets fresh browser contexts from ``ui`` (signed in through the form
the first time a key is used in a module, with a copy of that session cookie afterwards) and
makes its own webhooks, so tests do not depend on each other's order. ``ui`` fails a test
whose pages hit a JS error, a 5xx or a missing stylesheet/script, or whose server died.

Chromium is Debian's ``/usr/bin/chromium`` (never a browser download). Where it is missing the
UI tests skip with one line, or fail when ``HOOKLINE_REQUIRE_UI=1`` (CI sets it).

Tests that need a screenshot call :func:`screenshot`; the PNGs land in ``docs/screenshots/``
under fixed names and are overwritten on every run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    async_playwright,
    expect,
)
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import ADMIN_KEY, base_env, free_port

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_UI_ENV = "HOOKLINE_REQUIRE_UI"
CHROMIUM_MISSING = (
    f"Chromium not found at {CHROMIUM}; apt-get install chromium "
    f"({REQUIRE_UI_ENV}=1 makes this a failure)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000
RECEIVER_BODY = b'{"received":true,"by":"ui-test-receiver"}'

UI = [pytest.mark.ui, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=TIMEOUT_MS)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """No Chromium: skip (one line for all UI tests), or fail when it is required.

    A hook rather than a fixture, so the skip is reported at this line for every test and
    ``-ra`` folds them into one line.
    """
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    if os.environ.get(REQUIRE_UI_ENV) == "1":
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    pytest.skip(CHROMIUM_MISSING)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (its presence is checked by :func:`pytest_runtest_setup`)."""
    return str(CHROMIUM)


@dataclass
class Server:
    """One running ``hookline serve`` and the means to reach it."""

    base: str
    env: dict[str, str]
    workdir: Path
    proc: subprocess.Popen[bytes]
    sessions: dict[str, list[Any]] = field(default_factory=dict)  # key -> session cookies
    _viewer_key: str = ""

    @property
    def viewer_key(self) -> str:
        """A viewer key of tenant ``default`` (made with ``hookline key create`` once)."""
        if not self._viewer_key:
            self._viewer_key = self.cli("key", "create", "--tenant", "default", "--role", "viewer")
        return self._viewer_key

    def url(self, path: str) -> str:
        return self.base + path

    def cli(self, *args: str) -> str:
        """``python -m hookline ARGS`` on this server's store; its stdout, stripped."""
        return self.cli_run(*args).stdout.strip()

    def cli_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m hookline ARGS`` on this server's store; must exit 0."""
        done = subprocess.run(
            [sys.executable, "-m", "hookline", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def logs(self) -> str:
        return (self.workdir / "serve.log").read_text(errors="replace")

    def request(
        self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY
    ) -> tuple[int, Any]:
        """One API call with ``key``; its status and JSON body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except urllib.error.URLError:
            self.check_alive()
            raise

    def check_alive(self) -> None:
        """Fails with the exit code and the log if ``hookline serve`` is gone."""
        code = self.proc.poll()
        assert code is None, f"hookline serve exited with {code}:\n{self.logs()}"

    async def call(self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
        """An API call (in a thread: the receiver keeps serving) that must answer 2xx."""
        status, answer = await asyncio.to_thread(self.request, method, path, body, key)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    async def status_of(self, path: str) -> int:
        """The status of an admin ``GET path``."""
        status, _ = await asyncio.to_thread(self.request, "GET", path)
        return status

    async def webhooks(self, key: str = ADMIN_KEY) -> list[dict[str, Any]]:
        """Every webhook of ``key``'s tenant, through the API."""
        found: list[dict[str, Any]] = []
        path = "/api/internal/webhooks?limit=100"
        while True:
            page = await self.call("GET", path, key=key)
            found.extend(page["data"])
            if not page.get("nextCursor"):
                return found
            path = f"/api/internal/webhooks?limit=100&cursor={page['nextCursor']}"

    async def webhook(
        self,
        name: str,
        url: str,
        events: tuple[str, ...] = ("ReportPublished",),
        key: str = ADMIN_KEY,
        **fields: Any,
    ) -> str:
        """Creates a webhook through the API; its id."""
        body = {"name": name, "url": url, "events": list(events), **fields}
        return str((await self.call("POST", "/api/internal/webhooks", body, key=key))["id"])

    async def publish(self, event: str, data: dict[str, Any], client: str | None = None) -> str:
        """Publishes an event through the API; its id."""
        body = {"event": event, "clientCuid": client, "data": data}
        return str((await self.call("POST", "/api/internal/events", body))["id"])

    async def logs_of(self, webhook_id: str, **query: str) -> list[dict[str, Any]]:
        qs = "".join(f"&{k}={v}" for k, v in query.items())
        answer = await self.call("GET", f"/api/internal/webhooks/logs?webhookId={webhook_id}{qs}")
        return list(answer["data"])


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def start_server(workdir: Path, **extra_env: str) -> Server:
    """Starts ``hookline serve`` on a fresh SQLite file in ``workdir``."""
    port = free_port()
    env = base_env(
        f"sqlite:///{workdir / 'hookline.db'}",
        HOOKLINE_HOST="127.0.0.1",
        HOOKLINE_PORT=str(port),
        HOOKLINE_RETRY_BASE_DELAY="0.3",
        HOOKLINE_MAX_RETRIES="1",
        **extra_env,
    )
    with open(workdir / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hookline", "serve"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not _healthy(base):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            log_text = (workdir / "serve.log").read_text(errors="replace")
            raise AssertionError(f"hookline serve did not come up:\n{log_text}")
        time.sleep(0.05)
    return Server(base, env, workdir, proc)


@pytest.fixture(scope="module")
def server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``hookline serve`` for this module (admin key ``ADMIN_KEY``, loopback allowed)."""
    del chromium_path  # no Chromium, no server: the skip (or failure) comes first
    started = start_server(tmp_path_factory.mktemp("ui"))
    try:
        yield started
    finally:
        started.proc.terminate()
        try:
            started.proc.wait(20)
        except subprocess.TimeoutExpired:
            started.proc.kill()
            started.proc.wait(10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A real loopback receiver answering ``200`` with :data:`RECEIVER_BODY`."""
    target = Receiver("127.0.0.1", None)
    await target.start()
    target.reply(200, body=RECEIVER_BODY, headers={"Content-Type": "application/json"})
    try:
        yield target
    finally:
        await target.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """One headless Chromium for this module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Ui:
    """Opens browser contexts on the server; checks they saw no JS error and no 5xx."""

    server: Server
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def context(
        self, *, phone: bool = False, timezone: str = "Europe/Berlin"
    ) -> BrowserContext:
        context = await self.browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            locale="en-US",
            timezone_id=timezone,
            base_url=self.server.base,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("weberror", lambda error: self.problems.append(f"JS error: {error.error}"))
        context.on("response", self._check_response)
        self.contexts.append(context)
        return context

    def _check_response(self, response: Response) -> None:
        """A 5xx anywhere, or a stylesheet, script, image or font that did not load."""
        kind = response.request.resource_type
        if response.status >= 500 or (
            response.status >= 400 and kind in ("stylesheet", "script", "image", "font")
        ):
            self.problems.append(f"{response.status} {kind} {response.url}")

    async def page(
        self, key: str | None = None, *, phone: bool = False, timezone: str = "Europe/Berlin"
    ) -> Page:
        """A page in a fresh context, signed in with ``key`` if given (on the webhooks list).

        The first sign-in with a key goes through the form; later contexts get a copy of its
        session cookie (the form is slow, and is tested on its own), or sign in again if the
        server no longer takes it.
        """
        context = await self.context(phone=phone, timezone=timezone)
        page = await context.new_page()
        if key is None:
            return page
        if key in self.server.sessions:
            await context.add_cookies(self.server.sessions[key])
            await page.goto("/ui/webhooks")
            if not re.search(r"/ui/login", page.url):
                return page
        await sign_in(page, key)
        cookies = await context.cookies()
        self.server.sessions[key] = [c for c in cookies if c["name"] == "hookline_session"]
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ui(server: Server, browser: Browser) -> AsyncIterator[Ui]:
    """Fresh browser contexts for one test; fails the test on a JS error or a 5xx page."""
    server.check_alive()
    opened = Ui(server, browser)
    try:
        yield opened
    finally:
        await opened.close()
    server.check_alive()
    assert not opened.problems, f"{opened.problems}\n--- hookline serve log ---\n{server.logs()}"


# -- helpers ---------------------------------------------------------------------------------
async def sign_in(page: Page, key: str) -> None:
    """Signs in through the login form; lands on the webhooks list."""
    await page.goto("/ui/login")
    await page.get_by_test_id("login-key").fill(key)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(re.compile(r"/ui/webhooks(\?.*)?$"))


def detail_url(webhook_id: str) -> re.Pattern[str]:
    """Matches the URL of ``webhook_id``'s detail page (any query, e.g. a flash)."""
    return re.compile(rf"/ui/webhooks/{re.escape(webhook_id)}/?(\?.*)?$")


def log_url(log_id: str) -> re.Pattern[str]:
    """Matches the URL of one log's detail page."""
    return re.compile(rf"/ui/logs/{re.escape(log_id)}/?(\?.*)?$")


def webhook_id_from(url: str) -> str:
    """The id in a ``/ui/webhooks/{id}`` URL."""
    found = re.search(r"/ui/webhooks/([^/?#]+)/?(?:[?#].*)?$", url)
    assert found, url
    assert found.group(1) != "new", url
    return found.group(1)


def row(page: Page, webhook_id: str) -> Locator:
    """``webhook_id``'s row in the webhooks list."""
    return page.locator(f'tr[data-testid="webhook-row"][data-webhook-id="{webhook_id}"]')


def requests_to(target: Receiver, path: str) -> list[Any]:
    """What ``target`` received on ``path``."""
    return [r for r in target.requests if r.path == path]


def event_ids(target: Receiver, path: str) -> list[str]:
    return [json.loads(r.body).get("id") for r in requests_to(target, path)]


FORM_OF = """el => {
    const form = el.form || el.closest('form');
    const data = {};
    for (const [k, v] of new FormData(form)) data[k] = String(v);
    if (el.name) data[el.name] = el.value;
    const action = el.getAttribute('formaction');
    return {action: action ? new URL(action, location.href).href : form.action, fields: data};
}"""


async def form_fields(control: Locator) -> tuple[str, dict[str, str]]:
    """The action URL and fields (the button's own included) of the form ``control`` submits."""
    found: dict[str, Any] = await control.evaluate(FORM_OF)
    return str(found["action"]), dict(found["fields"])


async def toggle_form(page: Page, webhook_id: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the toggle form in ``webhook_id``'s row of the list."""
    await page.goto("/ui/webhooks")
    await expect(row(page, webhook_id)).to_be_visible()
    return await form_fields(row(page, webhook_id).get_by_test_id("toggle-enabled"))


async def wait_for_logs(server: Server, webhook_id: str, count: int = 1) -> list[dict[str, Any]]:
    """``webhook_id``'s attempt logs (newest first) once there are at least ``count``."""
    logs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(logs) < count:
        assert time.monotonic() < deadline, f"fewer than {count} logs for {webhook_id}: {logs}"
        await asyncio.sleep(0.1)
        logs = await server.logs_of(webhook_id)
    return logs


async def post_from_page(page: Page, action: str, fields: dict[str, str]) -> int:
    """POSTs ``fields`` form-encoded to ``action`` from the page (its cookies); the status."""
    status: int = await page.evaluate(
        """async ([action, fields]) => {
            const r = await fetch(action, {method: 'POST', body: new URLSearchParams(fields),
                                           credentials: 'same-origin', redirect: 'manual'});
            return r.type === 'opaqueredirect' ? 303 : r.status;
        }""",
        [action, fields],
    )
    return status


async def screenshot(page: Page, name: str) -> Path:
    """Saves the page as ``docs/screenshots/NAME.png`` (overwritten each run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled", caret="hide")
    return path
