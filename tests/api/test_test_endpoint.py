"""``POST /api/internal/webhooks/test`` against a real loopback receiver (contract 3, 5, 6).

The services here allow ``127.0.0.0/8`` (``HOOKLINE_ALLOWED_NETWORKS``), and resolve names
from ``DNS`` below, so that a test can make a name that passed at create time resolve
elsewhere later.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest
import trustme
from aiohttp import web

from hookline import __version__
from hookline.config import Settings
from hookline.domain.tenants import Role
from hookline.runtime import Services, build_services
from hookline.signing import SIGNATURE_HEADER, verify

TEST = "/api/internal/webhooks/test"
LOGS = "/api/internal/webhooks/logs"
SECRET = "whsec-receiver-0123456789"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LOOPBACK = (ip_network("127.0.0.0/8"),)
DNS: dict[str, list[str]] = {}


async def resolver(host: str, port: int) -> Sequence[str]:
    try:
        return DNS[host]
    except KeyError:
        raise OSError(f"{host} does not resolve") from None


@pytest.fixture
def allowed_networks() -> tuple:
    """What the services allow; a test overrides it with ``parametrize``."""
    return LOOPBACK


@pytest.fixture
async def services(database_url, allowed_networks, monkeypatch) -> AsyncIterator[Services]:
    """The API tests' services, with loopback allowed and this module's DNS."""
    monkeypatch.setitem(DNS, "receiver.test", ["127.0.0.1"])
    settings = Settings(
        database_url=database_url, secret_key="x" * 40, allowed_networks=allowed_networks
    )
    built = await build_services(settings, resolver=resolver)
    try:
        yield built
    finally:
        await built.close()


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it receives."""

    port: int = 0
    received: list[dict] = field(default_factory=list)

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def ok(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        self.received.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "signature": signature,
                "valid": verify(SECRET, body, signature),
            }
        )
        return web.Response(text="thanks", headers={"X-Receiver": "yes"})

    async def fail(self, request: web.Request) -> web.Response:
        self.received.append({"body": await request.read()})
        return web.Response(status=500, text="boom")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = Receiver()
    app = web.Application()
    app.router.add_post("/ok", recorder.ok)
    app.router.add_post("/fail", recorder.fail)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.port = runner.addresses[0][1]
    try:
        yield recorder
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls_receiver() -> AsyncIterator[Receiver]:
    """The receiver over HTTPS, with a certificate for receiver.test no trust store knows."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("receiver.test").configure_cert(context)
    recorder = Receiver()
    app = web.Application()
    app.router.add_post("/ok", recorder.ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    recorder.port = runner.addresses[0][1]
    try:
        yield recorder
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def run_test(api, headers, body) -> dict:
    response = await api.client.post(TEST, headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    assert set(answer) == {"success", "statusCode", "durationMs", "error", "responseBody", "logId"}
    assert isinstance(answer["durationMs"], int)
    assert answer["durationMs"] >= 0
    return answer


async def logs(api, headers, path=LOGS, **params) -> list[dict]:
    response = await api.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    found: list[dict] = response.json()["data"]
    return found


async def test_test_of_a_stored_webhook_is_sent_signed_and_logged(api, acme, receiver):
    webhook = await api.create(
        acme.admin,
        url=receiver.url(host="receiver.test"),
        secret=SECRET,
        events=["AssessmentSubmitted", "ReportPublished"],
    )
    answer = await run_test(api, acme.admin, {"webhookId": webhook["id"]})
    assert answer["success"] is True
    assert answer["statusCode"] == 200
    assert answer["error"] is None
    assert answer["responseBody"] == "thanks"
    assert answer["logId"].startswith("log_")

    [got] = receiver.received
    assert got["valid"] is True
    headers = got["headers"]
    assert headers["X-Hookline-Event"] == "AssessmentSubmitted"  # its first subscribed event
    assert headers["X-Hookline-Webhook"] == webhook["id"]
    assert headers["X-Hookline-Attempt"] == "1"
    assert headers["X-Hookline-Delivery"].startswith("dlv_")
    assert headers["User-Agent"] == f"Hookline/{__version__}"
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(got["body"])
    assert set(sent) == {"id", "event", "createdAt", "clientCuid", "data"}
    assert (sent["event"], sent["clientCuid"]) == ("AssessmentSubmitted", None)
    assert sent["data"] == {"test": True, "message": "A test delivery from Hookline."}
    assert got["body"] == json.dumps(sent, separators=(",", ":"), ensure_ascii=False).encode()

    [log] = await logs(api, acme.viewer, trigger="test")
    assert log["id"] == answer["logId"]
    assert (log["webhookId"], log["deliveryId"], log["eventId"]) == (
        webhook["id"],
        None,
        sent["id"],
    )
    assert (log["trigger"], log["attempt"], log["event"]) == ("test", 1, "AssessmentSubmitted")
    assert log["url"] == receiver.url(host="receiver.test")
    assert log["requestBody"] == got["body"].decode()
    assert log["requestHeaders"][SIGNATURE_HEADER] == got["signature"]
    assert log["requestHeaders"]["X-Hookline-Delivery"] == headers["X-Hookline-Delivery"]
    assert (log["statusCode"], log["success"], log["error"]) == (200, True, None)
    assert log["responseBody"] == "thanks"
    assert log["responseHeaders"]["X-Receiver"] == "yes"
    assert log["durationMs"] == answer["durationMs"]
    path = f"/api/internal/webhooks/{webhook['id']}/logs"
    assert [entry["id"] for entry in await logs(api, acme.viewer, path)] == [answer["logId"]]
    assert await logs(api, acme.viewer, trigger="event") == []
    everything = (await api.client.get(LOGS, headers=acme.admin)).text
    assert SECRET not in everything


@SQLITE_ONLY
async def test_test_of_a_url_with_or_without_a_secret(api, acme, receiver):
    body = {"url": receiver.url(), "secret": SECRET, "event": "EngagementRequested"}
    signed = await run_test(api, acme.admin, body)
    unsigned = await run_test(api, acme.admin, {"url": receiver.url(), "sslVerification": False})
    assert (signed["success"], unsigned["success"]) == (True, True)
    first, second = receiver.received
    assert first["valid"] is True
    assert first["headers"]["X-Hookline-Event"] == "EngagementRequested"
    assert first["headers"]["X-Hookline-Webhook"] == ""
    assert second["signature"] is None
    assert second["headers"]["X-Hookline-Event"] == "ReportPublished"
    newest, oldest = await logs(api, acme.viewer, trigger="test")
    assert (newest["id"], oldest["id"]) == (unsigned["logId"], signed["logId"])
    assert oldest["webhookId"] is None
    assert oldest["requestHeaders"][SIGNATURE_HEADER] == first["signature"]
    assert SIGNATURE_HEADER not in newest["requestHeaders"]


@SQLITE_ONLY
async def test_failures_at_the_receiver_are_200_with_success_false(api, acme, receiver):
    failed = await run_test(api, acme.admin, {"url": receiver.url("/fail")})
    assert (failed["success"], failed["statusCode"]) == (False, 500)
    assert failed["error"].startswith("Failed to call webhook: HTTP 500")
    assert failed["responseBody"] == "boom"
    refused = await run_test(api, acme.admin, {"url": f"http://127.0.0.1:{closed_port()}/"})
    assert (refused["success"], refused["statusCode"]) == (False, None)
    assert refused["error"] == "Failed to call webhook: connection refused"
    assert refused["responseBody"] == ""
    newest, oldest = await logs(api, acme.viewer, success="false")
    assert (newest["id"], newest["error"]) == (refused["logId"], refused["error"])
    assert (oldest["id"], oldest["statusCode"]) == (failed["logId"], 500)


@SQLITE_ONLY
async def test_ssl_verification_false_skips_the_certificate_check(api, acme, tls_receiver):
    url = tls_receiver.url(host="receiver.test").replace("http:", "https:")
    checked = await run_test(api, acme.admin, {"url": url})
    assert (checked["success"], checked["statusCode"]) == (False, None)
    assert checked["error"].startswith("Failed to call webhook: TLS error: certificate verify")
    unchecked = await run_test(api, acme.admin, {"url": url, "sslVerification": False})
    assert (unchecked["success"], unchecked["statusCode"]) == (True, 200)
    webhook = await api.create(acme.admin, url=url, sslVerification=False)
    stored = await run_test(api, acme.admin, {"webhookId": webhook["id"]})
    assert (stored["success"], stored["responseBody"]) == (True, "thanks")
    assert len(tls_receiver.received) == 2


@SQLITE_ONLY
@pytest.mark.parametrize("allowed_networks", [()])
async def test_loopback_url_is_refused_when_not_allowed(api, acme, receiver):
    for url in [receiver.url(), receiver.url(host="receiver.test"), "http://localhost:9/"]:
        response = await api.client.post(TEST, headers=acme.admin, json={"url": url})
        api.error(response, 400, "url_not_allowed", "url")
    assert receiver.received == []
    assert await logs(api, acme.viewer) == []


@SQLITE_ONLY
async def test_stored_webhook_is_checked_again_at_test_time(api, acme, receiver, monkeypatch):
    webhook = await api.create(acme.admin, url=receiver.url(host="receiver.test"))
    monkeypatch.setitem(DNS, "receiver.test", ["10.0.0.7"])
    response = await api.client.post(TEST, headers=acme.admin, json={"webhookId": webhook["id"]})
    api.error(response, 400, "url_not_allowed", "url")
    assert receiver.received == []
    assert await logs(api, acme.viewer) == []


@SQLITE_ONLY
async def test_test_endpoint_is_rate_limited_per_key(api, acme, services, receiver):
    for _ in range(10):
        assert (await run_test(api, acme.admin, {"url": receiver.url()}))["success"] is True
    response = await api.client.post(TEST, headers=acme.admin, json={"url": receiver.url()})
    api.error(response, 429, "rate_limited")
    assert len(receiver.received) == 10
    assert len(await logs(api, acme.viewer)) == 10
    another = await services.accounts.create_key("acme", Role.ADMIN)
    headers = {"Authorization": f"Bearer {another.plaintext}"}
    assert (await run_test(api, headers, {"url": receiver.url()}))["success"] is True


@SQLITE_ONLY
async def test_only_admins_of_enabled_accounts_may_test(api, acme, other, services, receiver):
    webhook = await api.create(acme.admin, url=receiver.url())
    for headers in [acme.publisher, acme.viewer]:
        for body in [{"webhookId": webhook["id"]}, {"url": receiver.url()}]:
            response = await api.client.post(TEST, headers=headers, json=body)
            api.error(response, 403, "forbidden")
    api.error(await api.client.post(TEST, headers={}, json={}), 401, "unauthorized")
    response = await api.client.post(TEST, headers=other.admin, json={"webhookId": webhook["id"]})
    api.error(response, 404, "not_found")
    await services.accounts.set_tenant_enabled("acme", False)
    response = await api.client.post(TEST, headers=acme.admin, json={"url": receiver.url()})
    api.error(response, 403, "webhooks_disabled")
    await services.accounts.set_tenant_enabled("acme", True)
    assert receiver.received == []
    assert await logs(api, acme.viewer) == []


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        pytest.param({}, 400, "validation_error", "webhookId", id="neither"),
        pytest.param(
            {"webhookId": "WEBHOOK", "url": "URL"}, 400, "validation_error", "url", id="both"
        ),
        pytest.param(
            {"webhookId": "WEBHOOK", "secret": SECRET}, 400, "validation_error", "secret", id="s"
        ),
        pytest.param(
            {"webhookId": "WEBHOOK", "sslVerification": True},
            400,
            "validation_error",
            "sslVerification",
            id="ssl with webhookId",
        ),
        pytest.param({"url": "URL", "foo": 1}, 400, "validation_error", "foo", id="unknown"),
        pytest.param({"url": ["URL"]}, 400, "validation_error", "url", id="url not a string"),
        pytest.param({"url": "URL", "secret": "short"}, 400, "validation_error", "secret", id="7"),
        pytest.param({"url": "URL", "event": "Nope"}, 400, "validation_error", "event", id="ev"),
        pytest.param({"url": "ftp://127.0.0.1/"}, 400, "url_not_allowed", "url", id="ftp"),
        pytest.param({"url": "http://nowhere.test/"}, 400, "url_not_allowed", "url", id="dns"),
        pytest.param({"webhookId": "wh_nope"}, 404, "not_found", None, id="unknown webhook"),
    ],
)
async def test_invalid_test_requests(api, acme, receiver, body, status, code, field):
    webhook = await api.create(acme.admin, url=receiver.url())
    sent = {
        k: {"WEBHOOK": webhook["id"], "URL": receiver.url()}.get(v, v) if isinstance(v, str) else v
        for k, v in body.items()
    }
    if sent.get("url") == ["URL"]:
        sent["url"] = [receiver.url()]
    response = await api.client.post(TEST, headers=acme.admin, json=sent)
    api.error(response, status, code, field)
    assert receiver.received == []
    assert await logs(api, acme.viewer) == []


@SQLITE_ONLY
async def test_test_route_is_documented(api):
    document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"][TEST]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "413", "429", "503"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"webhookId", "url", "secret", "sslVerification", "event"}
    out = document["components"]["schemas"]["TestOut"]
    assert set(out["properties"]) == {
        "success",
        "statusCode",
        "durationMs",
        "error",
        "responseBody",
        "logId",
    }
