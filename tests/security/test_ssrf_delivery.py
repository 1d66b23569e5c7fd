"""SSRF end to end (contract 6): resolver and redirect situations at delivery time.

Each situation runs the real engine in-process on a real store, with real loopback receivers and
canary listeners; only DNS is faked (an injected resolver). Unless a situation says otherwise,
only ``127.0.0.1/32`` is allowed, the webhook's receiver listens on 127.0.0.1:P, and canaries
listen on 127.0.0.2:P, 127.0.0.3:P and [::1]:P, the same port: a connection to any refused
address that can be bound on this machine would be seen. The canaries must see nothing.

Cloud metadata addresses cannot be bound here, so ``127.0.0.9`` stands in for one (added to
``ssrf.METADATA_ADDRESSES`` by monkeypatch) where a connection must be observed; the real
metadata addresses are checked too, by the refusal they get before any connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Any

import pytest
import trustme
from tests.api.conftest import Account
from tests.delivery.conftest import Canaries, Canary, FakeResolver, Receiver, Receivers
from tests.security.conftest import (
    LOGS,
    ONLY_127_0_0_1,
    POSTGRES,
    SQLITE,
    TEST,
    Stack,
    StackFactory,
    eventually,
)

from hookline.delivery import ssrf
from hookline.domain.deliveries import AttemptLog, Delivery, DeliveryStatus
from hookline.domain.tenants import Principal
from hookline.domain.webhooks import WebhookDraft
from hookline.errors import UrlNotAllowed
from hookline.services import testing as tester_module
from hookline.services.deliveries import DeliveryQuery
from hookline.services.events import EventInput

NAME = "victim.test"
PREFIX = "Failed to call webhook: "
CANARY_HOSTS = ("127.0.0.2", "127.0.0.3", "::1")
TERMINAL = {DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED}


class SequenceResolver(FakeResolver):
    """Answers ``NAME`` from a script, one entry per lookup (the last one repeats)."""

    def __init__(self, script: Sequence[Sequence[str]], **others: Sequence[str]) -> None:
        super().__init__(others)
        self.script = [list(answer) for answer in script]

    async def __call__(self, host: str, port: int) -> list[str]:
        if host != NAME:
            return await super().__call__(host, port)
        self.calls.append((host, port))
        index = min(len(self.calls_for(NAME)), len(self.script)) - 1
        return list(self.script[index])

    def calls_for(self, host: str) -> list[tuple[str, int]]:
        return [call for call in self.calls if call[0] == host]


@dataclass
class Scene:
    """A running deployment with one tenant, a receiver and canaries on one port."""

    stack: Stack
    acme: Account
    admin: Principal
    receiver: Receiver
    canaries: dict[str, Canary]

    @property
    def port(self) -> int:
        return self.receiver.port

    @property
    def resolver(self) -> FakeResolver:
        return self.stack.resolver

    def url(self, host: str = NAME, path: str = "/hook") -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"{self.receiver.scheme}://{shown}:{self.port}{path}"

    async def webhook(self, url: str, **fields: Any) -> str:
        """Creates a webhook through the service: the create-time SSRF check runs."""
        draft = WebhookDraft(
            name="ssrf",
            url=url,
            events=("ReportPublished",),
            secret="ssrf-e2e-secret",
            ssl_verification=fields.pop("ssl_verification", True),
        )
        return (await self.stack.services.webhooks.create(self.admin, draft)).id

    async def publish(self) -> str:
        published = await self.stack.services.events.publish(
            self.admin, EventInput("ReportPublished", None, {"n": 1})
        )
        return published.results[0].event_id

    async def settle(self, webhook_id: str) -> tuple[Delivery, list[AttemptLog]]:
        """Publishes one event and waits for its delivery to end; the delivery and its logs."""
        event_id = await self.publish()
        query = DeliveryQuery(webhook_id=webhook_id, event_id=event_id)

        async def done() -> Delivery | None:
            page = await self.stack.services.deliveries.deliveries(self.admin, query)
            (delivery,) = page.items
            return delivery if delivery.status in TERMINAL else None

        delivery = await eventually(done, timeout=10)
        _, logs = await self.stack.services.deliveries.delivery(self.admin, delivery.id)
        return delivery, logs

    def connections(self) -> dict[str, int]:
        return {host: canary.connections for host, canary in self.canaries.items()}

    def assert_silent(self) -> None:
        assert self.connections() == dict.fromkeys(self.canaries, 0)


SceneFactory = Callable[..., Any]


@pytest.fixture
def make_scene(make_stack: StackFactory, receivers: Receivers, canaries: Canaries):
    """``await make_scene(allowed=..., resolver=..., receiver_host=..., ssl_context=...,
    canary_hosts=..., **settings)``; the engine runs."""

    async def build(
        *,
        allowed: Sequence[ssrf.IPNetwork] = ONLY_127_0_0_1,
        resolver: FakeResolver | None = None,
        receiver_host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        canary_hosts: Sequence[str] = CANARY_HOSTS,
        **settings: Any,
    ) -> Scene:
        receiver = await receivers.start(receiver_host, ssl_context=ssl_context)
        listening = {}
        for host in canary_hosts:
            listening[host] = await canaries.start(host, receiver.port)
        resolver = resolver or FakeResolver()
        resolver.answers.setdefault(NAME, [receiver_host])
        stack = await make_stack(resolver=resolver, allowed=allowed, engine=True, **settings)
        acme = await stack.account("acme")
        admin = await stack.principal(acme.admin)
        return Scene(stack, acme, admin, receiver, listening)

    return build


async def expect_refused(scene: Scene, webhook_id: str, address: str) -> None:
    """The delivery failed at once (not retried) because ``address`` is not allowed, and
    nothing connected anywhere."""
    delivery, logs = await scene.settle(webhook_id)
    reason = f"{PREFIX}destination {ip_address(address)} is not allowed"
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.FAILED,
        1,  # max_retries is 1: a retried failure would have made 2 attempts
        reason,
    )
    assert [(log.error, log.status_code, log.success) for log in logs] == [(reason, None, False)]
    assert scene.receiver.requests == []
    scene.assert_silent()


async def expect_delivered(scene: Scene, webhook_id: str, receiver: Receiver) -> None:
    delivery, _ = await scene.settle(webhook_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 1), delivery
    assert len(receiver.requests) == 1
    scene.assert_silent()


# --- DNS answers at delivery time (each one a rebinding: create saw 127.0.0.1) --------------

REBINDING = [
    pytest.param(["127.0.0.2"], "127.0.0.2", id="internal"),
    pytest.param(["10.0.0.5"], "10.0.0.5", id="private"),
    pytest.param(["127.0.0.1", "127.0.0.2"], "127.0.0.2", id="mixed-allowed-first"),
    pytest.param(["127.0.0.2", "127.0.0.1"], "127.0.0.2", id="mixed-refused-first"),
    pytest.param(["127.0.0.1", "::1"], "::1", id="mixed-v6-loopback"),
    pytest.param(["::1"], "::1", id="aaaa-loopback"),
    pytest.param(["::ffff:127.0.0.2"], "::ffff:127.0.0.2", id="aaaa-mapped"),
    pytest.param(["127.0.0.1", "::ffff:127.0.0.3"], "::ffff:127.0.0.3", id="mixed-mapped"),
    pytest.param(["64:ff9b::7f00:2"], "64:ff9b::7f00:2", id="aaaa-nat64-loopback"),
    pytest.param(["64:ff9b::a00:5"], "64:ff9b::a00:5", id="aaaa-nat64-private"),
    pytest.param(["::7f00:2"], "::7f00:2", id="aaaa-compatible"),
    pytest.param(["2002:7f00:1::1"], "2002:7f00:1::1", id="aaaa-6to4-of-allowed"),
    pytest.param(["0.0.0.0"], "0.0.0.0", id="unspecified"),
    pytest.param(["::"], "::", id="aaaa-unspecified"),
    pytest.param(["169.254.169.254"], "169.254.169.254", id="metadata"),
    pytest.param(["::ffff:169.254.169.254"], "::ffff:169.254.169.254", id="aaaa-mapped-metadata"),
]


@SQLITE
@pytest.mark.parametrize(("answers", "refused"), REBINDING)
async def test_refused_answers_at_delivery_time(make_scene, answers, refused):
    scene = await make_scene()
    webhook_id = await scene.webhook(scene.url())  # vetted now: victim.test is 127.0.0.1
    scene.resolver.answers[NAME] = answers
    await expect_refused(scene, webhook_id, refused)


@SQLITE
@pytest.mark.parametrize(
    "answers", [["127.0.0.1"], ["::ffff:127.0.0.1"]], ids=["plain", "aaaa-mapped-of-allowed"]
)
async def test_allowed_answers_are_delivered(make_scene, answers):
    """The other direction: the same set-up delivers when the answer is allowed (a mapped
    address is judged as the IPv4 address it embeds, allowlist included)."""
    scene = await make_scene()
    webhook_id = await scene.webhook(scene.url())
    scene.resolver.answers[NAME] = answers
    await expect_delivered(scene, webhook_id, scene.receiver)


@POSTGRES
async def test_rebinding_and_mixed_answers_on_postgres(make_scene):
    scene = await make_scene()
    first = await scene.webhook(scene.url())
    scene.resolver.answers[NAME] = ["127.0.0.1", "::ffff:127.0.0.2"]
    await expect_refused(scene, first, "::ffff:127.0.0.2")
    await scene.stack.services.webhooks.delete(scene.admin, first)
    scene.resolver.answers[NAME] = ["127.0.0.1"]
    second = await scene.webhook(scene.url("victim.test", "/second"))
    await expect_delivered(scene, second, scene.receiver)


@SQLITE
async def test_rebinding_on_every_lookup_never_reaches_a_canary(make_scene):
    """A resolver that alternates allowed and refused answers on every lookup: whatever the
    engine's lookups get, it connects only to what it vetted."""
    resolver = SequenceResolver([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.1"], ["127.0.0.2"]])
    resolver.script *= 10
    scene = await make_scene(resolver=resolver)
    webhook_id = await scene.webhook(scene.url())
    for _ in range(4):
        await scene.publish()

    async def all_done() -> list[Delivery] | None:
        page = await scene.stack.services.deliveries.deliveries(
            scene.admin, DeliveryQuery(webhook_id=webhook_id)
        )
        finished = [d for d in page.items if d.status in TERMINAL]
        return page.items if len(finished) == 4 else None

    deliveries = await eventually(all_done)
    refused = f"{PREFIX}destination 127.0.0.2 is not allowed"
    for delivery in deliveries:
        assert delivery.status is DeliveryStatus.SUCCEEDED or delivery.last_error == refused
    succeeded = [d for d in deliveries if d.status is DeliveryStatus.SUCCEEDED]
    assert len(scene.receiver.requests) == len(succeeded)
    scene.assert_silent()


@SQLITE
async def test_rebinding_between_the_test_endpoint_check_and_its_connection(make_scene):
    """The test endpoint checks the URL (lookup 1: allowed), then connects (lookup 2:
    internal): the connection-time check refuses it, and the canary sees nothing."""
    resolver = SequenceResolver([["127.0.0.1"], ["127.0.0.2"]])
    scene = await make_scene(resolver=resolver)
    response = await scene.stack.client.post(
        TEST, headers=scene.acme.admin, json={"url": scene.url()}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["success"], answer["statusCode"]) == (False, None)
    assert answer["error"] == f"{PREFIX}destination 127.0.0.2 is not allowed"
    assert len(resolver.calls_for(NAME)) == 2
    assert scene.receiver.requests == []
    scene.assert_silent()


@SQLITE
async def test_a_stored_ip_literal_is_judged_again_when_the_allowlist_shrinks(
    make_stack, receivers, canaries
):
    """aiohttp never resolves IP literals: the sender judges them itself at every attempt."""
    receiver = await receivers.start()
    canary = await canaries.start("127.0.0.2", receiver.port)
    wide = await make_stack(allowed=[ip_network("127.0.0.0/8")])
    acme = await wide.account("acme")
    draft = WebhookDraft(
        name="literal", url=f"http://127.0.0.2:{receiver.port}/hook", events=("ReportPublished",)
    )
    webhook_id = (await wide.services.webhooks.create(await wide.principal(acme.admin), draft)).id
    # The deployment restarts with only 127.0.0.1/32 allowed.
    narrow = await make_stack(allowed=ONLY_127_0_0_1, engine=True)
    scene = Scene(narrow, acme, await narrow.principal(acme.admin), receiver, {"x": canary})
    await expect_refused(scene, webhook_id, "127.0.0.2")


@SQLITE
async def test_a_name_that_stops_resolving_is_an_ordinary_retried_failure(make_scene):
    scene = await make_scene()
    webhook_id = await scene.webhook(scene.url())
    del scene.resolver.answers[NAME]
    delivery, logs = await scene.settle(webhook_id)
    reason = f"{PREFIX}{NAME} does not resolve"
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.FAILED,
        2,  # contract 6: a lookup failure at delivery time is retried
        reason,
    )
    assert [log.error for log in logs] == [reason, reason]
    scene.assert_silent()


@SQLITE
async def test_an_international_name_is_checked_as_the_name_connected_to(make_scene):
    """``straße.test`` is looked up as ``xn--strae-oqa.test`` (IDNA 2008, what aiohttp connects
    to) at create time and at connection time alike, never as ``strasse.test``; so a rebinding
    of that name is caught, and nothing else is ever judged in its place."""
    scene = await make_scene()
    punycode = "xn--strae-oqa.test"
    scene.resolver.answers[punycode] = ["127.0.0.1"]
    scene.resolver.answers["strasse.test"] = ["127.0.0.1"]
    webhook_id = await scene.webhook(scene.url("stra\u00dfe.test"))
    scene.resolver.answers[punycode] = ["127.0.0.2"]
    await expect_refused(scene, webhook_id, "127.0.0.2")
    scene.resolver.answers[punycode] = ["127.0.0.1"]
    await expect_delivered(scene, webhook_id, scene.receiver)
    assert scene.receiver.requests[0].headers["host"] == f"{punycode}:{scene.port}"
    await scene.stack.services.webhooks.check_url(scene.url(punycode))  # the ASCII form passes
    assert {host for host, _ in scene.resolver.calls} == {punycode}


# --- redirects: never followed ------------------------------------------------------------

REDIRECTS = [
    pytest.param(status, target, id=f"{status}-to-{target}")
    for status in (301, 302, 303, 307, 308)
    for target in ("internal", "public")
]


@SQLITE
@pytest.mark.parametrize(("status", "target"), REDIRECTS)
async def test_redirects_are_never_followed(make_scene, receivers, status, target):
    scene = await make_scene(max_retries=0)  # a 3xx is an ordinary failed attempt: no retry
    landing = await receivers.start()  # stands for a public site: public.test resolves to it
    scene.resolver.answers["public.test"] = ["127.0.0.1"]
    location = {
        "internal": f"http://127.0.0.2:{scene.port}/stolen",
        "public": f"http://public.test:{landing.port}/landing",
    }[target]
    scene.receiver.reply(status, b"moved", headers={"Location": location})
    webhook_id = await scene.webhook(scene.url())

    delivery, logs = await scene.settle(webhook_id)
    reason = f"{PREFIX}redirect not followed (HTTP {status} to {location})"
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_status_code == status
    assert [(log.status_code, log.error, log.success) for log in logs] == [(status, reason, False)]
    # The test endpoint does not follow it either.
    response = await scene.stack.client.post(
        TEST, headers=scene.acme.admin, json={"webhookId": webhook_id}
    )
    answer = response.json()
    assert (answer["success"], answer["statusCode"], answer["error"]) == (False, status, reason)

    assert [r.path for r in scene.receiver.requests] == ["/hook"] * 2
    assert landing.requests == []
    scene.assert_silent()


@POSTGRES
async def test_a_307_to_an_internal_address_on_postgres(make_scene):
    scene = await make_scene()
    location = f"http://127.0.0.2:{scene.port}/stolen"
    scene.receiver.reply(307, headers={"Location": location})
    webhook_id = await scene.webhook(scene.url())
    delivery, _ = await scene.settle(webhook_id)
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.FAILED, 307)
    assert delivery.last_error == f"{PREFIX}redirect not followed (HTTP 307 to {location})"
    scene.assert_silent()


# --- proxy environment variables ------------------------------------------------------------

PROXIES = [
    pytest.param({"HTTP_PROXY": "http://{proxy}", "http_proxy": "http://{proxy}"}, id="http"),
    pytest.param({"HTTPS_PROXY": "http://{proxy}", "https_proxy": "http://{proxy}"}, id="https"),
    pytest.param({"ALL_PROXY": "http://{proxy}", "all_proxy": "http://{proxy}"}, id="all"),
    pytest.param({"ALL_PROXY": "socks5://{proxy}"}, id="all-socks5"),
    pytest.param(
        {"HTTP_PROXY": "http://{proxy}", "NO_PROXY": "example.org", "no_proxy": "example.org"},
        id="http-with-no-proxy",
    ),
]


@SQLITE
@pytest.mark.parametrize("env", PROXIES)
async def test_proxy_environment_variables_are_ignored(make_scene, canaries, monkeypatch, env):
    """A canary plays the proxy: deliveries and the test endpoint go straight to the receiver.

    (aiohttp would honour HTTP(S)_PROXY if its session trusted the environment; it never reads
    ALL_PROXY or SOCKS proxies at all, so those cases guard against a change of HTTP client.)
    """
    context = None
    if "HTTPS_PROXY" in env:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert(NAME).configure_cert(context)
    proxy = await canaries.start("127.0.0.2")
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"]:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{proxy}", f"127.0.0.2:{proxy.port}"))
    scene = await make_scene(ssl_context=context)  # built with the variables set
    webhook_id = await scene.webhook(scene.url(), ssl_verification=False)
    await expect_delivered(scene, webhook_id, scene.receiver)
    outcome = await scene.stack.services.tester.test(
        scene.admin, tester_module.TestRequest(webhook_id=webhook_id)
    )
    assert outcome.result.success, outcome.result.error
    assert len(scene.receiver.requests) == 2
    assert proxy.connections == 0
    scene.assert_silent()


# --- allowlist edges: metadata stays refused ------------------------------------------------

STAND_IN = "127.0.0.9"  # plays a cloud metadata address: loopback, so a canary can bind it


@pytest.fixture
def stand_in_metadata(monkeypatch):
    monkeypatch.setattr(
        ssrf, "METADATA_ADDRESSES", ssrf.METADATA_ADDRESSES | {ip_address(STAND_IN)}
    )


@SQLITE
@pytest.mark.parametrize(
    ("allowed", "answer"),
    [
        pytest.param(["127.0.0.0/8"], STAND_IN, id="inside-allowed-range"),
        pytest.param(["127.0.0.1/32", "127.0.0.8/31"], STAND_IN, id="inside-allowed-pair"),
        pytest.param(["127.0.0.0/8"], f"::ffff:{STAND_IN}", id="mapped-inside-allowed-range"),
        pytest.param(
            ["127.0.0.1/32", f"::ffff:{STAND_IN}/128"], f"::ffff:{STAND_IN}", id="v6-wrapper-listed"
        ),
    ],
)
async def test_a_metadata_address_stays_refused_inside_an_allowed_range(
    make_scene, stand_in_metadata, allowed, answer
):
    networks = [ip_network(n) for n in allowed]
    scene = await make_scene(allowed=networks, canary_hosts=(*CANARY_HOSTS, STAND_IN))
    webhook_id = await scene.webhook(scene.url())
    scene.resolver.answers[NAME] = [answer]
    await expect_refused(scene, webhook_id, answer)
    # At create and test time too, as an IP literal.
    literal = scene.url(answer)
    with pytest.raises(UrlNotAllowed):
        await scene.webhook(literal)
    response = await scene.stack.client.post(TEST, headers=scene.acme.admin, json={"url": literal})
    scene.stack.api.error(response, 400, "url_not_allowed", "url")
    scene.assert_silent()


@SQLITE
async def test_a_metadata_address_listed_alone_is_allowed(make_scene, stand_in_metadata):
    """The exception to the exception: a /32 naming the metadata address exempts it."""
    scene = await make_scene(
        allowed=[ip_network("127.0.0.1/32"), ip_network(f"{STAND_IN}/32")],
        receiver_host=STAND_IN,
        canary_hosts=CANARY_HOSTS,
    )
    webhook_id = await scene.webhook(scene.url())
    assert scene.resolver.answers[NAME] == [STAND_IN]
    await expect_delivered(scene, webhook_id, scene.receiver)


@SQLITE
@pytest.mark.parametrize(
    ("metadata", "network", "neighbour"),
    [
        ("169.254.169.254", "169.254.0.0/16", "169.254.1.1"),
        ("169.254.170.2", "169.254.0.0/16", "169.254.170.3"),
        ("fd00:ec2::254", "fc00::/7", "fd00:ec2::253"),
        ("100.100.100.200", "100.64.0.0/10", "100.100.100.201"),
        ("168.63.129.16", "168.63.0.0/16", "168.63.129.17"),
    ],
)
async def test_real_metadata_addresses_stay_refused_inside_an_allowed_range(
    make_scene, metadata, network, neighbour
):
    scene = await make_scene(allowed=[ip_network("127.0.0.1/32"), ip_network(network)])
    # The range is really allowed: its other addresses pass the create-time check.
    await scene.stack.services.webhooks.check_url(scene.url(neighbour))
    with pytest.raises(UrlNotAllowed):
        await scene.stack.services.webhooks.check_url(scene.url(metadata))
    webhook_id = await scene.webhook(scene.url())
    scene.resolver.answers[NAME] = [metadata]
    await expect_refused(scene, webhook_id, metadata)


# --- the test endpoint as a port scanner ----------------------------------------------------


def closed_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


class Silent:
    """Accepts connections and never answers (what a filtering firewall looks like from here,
    give or take the handshake)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@SQLITE
async def test_the_test_endpoint_is_a_poor_port_scanner(make_scene, canaries):
    scene = await make_scene(delivery_timeout=0.3)
    client, headers = scene.stack.client, scene.acme.admin
    dropping = await canaries.start("127.0.0.1")  # accepts, then closes at once
    silent = Silent()
    hanging_port = await silent.start()
    try:
        probes = {
            "closed-1": f"http://127.0.0.1:{closed_port()}/",
            "closed-2": f"http://127.0.0.1:{closed_port()}/",
            "closed-3": f"http://127.0.0.1:{closed_port()}/x?y=1",
            "open-drops": f"http://127.0.0.1:{dropping.port}/",
            "open-hangs": f"http://127.0.0.1:{hanging_port}/",
            "open-http": scene.url("127.0.0.1"),
            # Refused hosts: an open port and a closed one must look exactly alike.
            "refused-open": f"http://127.0.0.2:{scene.port}/",
            "refused-closed": f"http://127.0.0.2:{closed_port('127.0.0.2')}/",
            "refused-name-open": scene.url("localhost"),
            "refused-name-closed": f"http://localhost:{closed_port()}/",
        }
        answers = {}
        for probe, url in probes.items():
            response = await client.post(TEST, headers=headers, json={"url": url})
            answers[probe] = (response.status_code, response.json())

        # Generic reasons only: no errno, no address or port, no OS wording.
        generic = {
            f"{PREFIX}connection refused",
            f"{PREFIX}timed out after 0.3s",
            f"{PREFIX}server disconnected without a response",
        }
        for probe in ["closed-1", "closed-2", "closed-3", "open-drops", "open-hangs"]:
            status, body = answers[probe]
            assert status == 200, (probe, body)
            assert body["error"] in generic, (probe, body)
            assert (body["success"], body["statusCode"], body["responseBody"]) == (
                False,
                None,
                "",
            )
        closed = {answers[p][1]["error"] for p in ["closed-1", "closed-2", "closed-3"]}
        assert closed == {f"{PREFIX}connection refused"}
        assert answers["open-hangs"][1]["error"] == f"{PREFIX}timed out after 0.3s"
        assert answers["open-http"][1]["success"] is True

        def refusal(probe: str) -> dict[str, Any]:
            status, body = answers[probe]
            assert status == 400, (probe, body)
            assert body["error"]["code"] == "url_not_allowed"
            return body

        assert refusal("refused-open") == refusal("refused-closed")
        assert refusal("refused-name-open") == refusal("refused-name-closed")
        assert str(scene.port) not in str(refusal("refused-open"))

        # The bucket (10) is empty now: the 11th probe is refused before any connection.
        before = dropping.connections
        response = await client.post(
            TEST, headers=headers, json={"url": f"http://127.0.0.1:{dropping.port}/"}
        )
        scene.stack.api.error(response, 429, "rate_limited")
        response = await client.post(TEST, headers=headers, json={"url": probes["refused-open"]})
        scene.stack.api.error(response, 429, "rate_limited")
        assert dropping.connections == before
        logs = (await client.get(LOGS, headers=headers, params={"trigger": "test"})).json()
        assert len(logs["data"]) == 6  # one per attempt made; none for refusals or 429s
        assert len(scene.receiver.requests) == 1
        scene.assert_silent()
    finally:
        await silent.stop()
