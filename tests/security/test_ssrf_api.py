"""The SSRF corpus at the API (contract 6): every URL below is refused on create, on PATCH of
``url`` and by the test endpoint, with nothing stored or changed and no connection made.

The pure policy has its own table tests (``tests/unit/test_ssrf.py``); this corpus goes through
the real app, services and store, with a fake resolver and default settings (no allowed
networks). URLs that name loopback carry ``{port}`` (``{port6}`` for ``[::1]``): canary
listeners sit there and must see no connection. A handful of URLs must be ACCEPTED, so that the
checks can fail both ways.

Expected codes: ``url_not_allowed`` for everything the SSRF policy refuses. C0/C1 control
characters and DEL, and URLs over 2048 characters, are refused by the field rules that every
string field follows (contract 7: "every string field refuses NUL and other control characters
(400 validation_error)"; contract 3: ``url`` "at most 2048 chars"), before the SSRF guard runs:
those answer ``validation_error``, still naming the field ``url``. Other whitespace and
invisible characters (space, no-break space, zero-width space, U+2028, BOM...) are the SSRF
policy's (``url_not_allowed``).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.api.conftest import Account, make_account
from tests.security.conftest import DELIVERIES, LOGS, TEST, WEBHOOKS, Stack, open_stack

from hookline.delivery.sender import AttemptResult

pytestmark = pytest.mark.asyncio(loop_scope="module")

ON_SQLITE = pytest.mark.parametrize("module_database", ["sqlite"], indirect=True)
ON_POSTGRES = pytest.mark.parametrize(
    "module_database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

REFUSED = "url_not_allowed"
FIELD = "validation_error"  # the field rules (contract 3 and 7), see the module docstring

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"

DNS: dict[str, list[str]] = {
    "hooks.example.com": [PUBLIC_V4],
    "base.example.com": ["93.184.216.35"],
    "public6.example.com": ["2606:4700::6810:84e5"],
    "dual.example.com": [PUBLIC_V4, PUBLIC_V6],
    "xn--bcher-kva.example.com": [PUBLIC_V4],  # bücher.example.com
    "xn--strae-oqa.example.com": [PUBLIC_V4],  # straße.example.com (IDNA 2008; not "strasse")
    "loopback.example.com": ["127.0.0.1"],
    "v6loop.example.com": ["::1"],
    "internal.example.com": ["10.0.0.5"],
    "rfc1918.example.com": ["192.168.1.20"],
    "cgnat.example.com": ["100.64.0.7"],
    "mixed.example.com": [PUBLIC_V4, "10.1.1.1"],
    "mixed-last.example.com": [PUBLIC_V4, PUBLIC_V6, "127.0.0.1"],
    "mixed6.example.com": [PUBLIC_V4, "::1"],
    "metadata.example.com": ["169.254.169.254"],
    "azure.example.com": ["168.63.129.16"],
    "imds6.example.com": ["fd00:ec2::254"],
    "nat64.example.com": ["64:ff9b::a00:5"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "compatible.example.com": ["::a9fe:a9fe"],
    "sixtofour.example.com": ["2002:c000:201::1"],
    "teredo.example.com": ["2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    "unspecified.example.com": ["0.0.0.0"],
    "ula.example.com": ["fd12:3456:789a::1"],
    "linklocal6.example.com": ["fe80::1"],
    "zone.example.com": ["fe80::1%eth0"],
    "empty.example.com": [],
    "garbage.example.com": ["not-an-address"],
}

LONG = "https://hooks.example.com/"
C = pytest.param  # (url, code, id)

CORPUS = [
    # --- scheme and shape ---
    C("ftp://hooks.example.com/hook", REFUSED, id="scheme-ftp"),
    C("file:///etc/passwd", REFUSED, id="scheme-file"),
    C("gopher://hooks.example.com:70/_GET", REFUSED, id="scheme-gopher"),
    C("dict://127.0.0.1:{port}/info", REFUSED, id="scheme-dict"),
    C("javascript:alert(1)", REFUSED, id="scheme-javascript"),
    C("hooks.example.com/hook", REFUSED, id="no-scheme"),
    C("//hooks.example.com/hook", REFUSED, id="scheme-relative"),
    C("http:/hooks.example.com/hook", REFUSED, id="one-slash"),
    C("http://", REFUSED, id="no-host"),
    C("http:///hook", REFUSED, id="empty-host"),
    # --- user info ---
    C("http://user@hooks.example.com/", REFUSED, id="userinfo-user"),
    C("http://user:pass@hooks.example.com/", REFUSED, id="userinfo-password"),
    C("http://@hooks.example.com/", REFUSED, id="userinfo-empty"),
    C("http://hooks.example.com@127.0.0.1:{port}/", REFUSED, id="userinfo-confusion"),
    C("http://127.0.0.1:{port}@hooks.example.com/", REFUSED, id="userinfo-port-confusion"),
    C("http://hooks.example.com%40127.0.0.1:{port}/", REFUSED, id="userinfo-encoded-at"),
    # --- fragments ---
    C("https://hooks.example.com/hook#frag", REFUSED, id="fragment"),
    C("https://hooks.example.com/#", REFUSED, id="fragment-empty"),
    C("http://127.0.0.1:{port}#@hooks.example.com/", REFUSED, id="fragment-confusion"),
    # --- backslashes ---
    C("http://hooks.example.com\\@127.0.0.1:{port}/", REFUSED, id="backslash-at"),
    C("http:\\\\127.0.0.1:{port}\\hook", REFUSED, id="backslash-slashes"),
    C("https://hooks.example.com\\hook", REFUSED, id="backslash-path"),
    # --- whitespace and control characters ---
    C("https://hooks.example.com /hook", REFUSED, id="space-in-host"),
    C(" https://hooks.example.com/hook", REFUSED, id="leading-space"),
    C("https://hooks.example.com/hook ", REFUSED, id="trailing-space"),
    C("https://hooks.example.com/\u00a0", REFUSED, id="no-break-space"),
    C("https://hooks\u200b.example.com/", REFUSED, id="zero-width-space"),
    C("https://hooks.example.com/\u2028", REFUSED, id="line-separator"),
    C("https://hooks.example.com/\u3000", REFUSED, id="ideographic-space"),
    C("https://hooks.example.com/\ufeff", REFUSED, id="byte-order-mark"),
    C("https://hooks.exa\tmple.com/", FIELD, id="tab"),
    C("https://hooks.example.com/\r\nX-Injected: 1", FIELD, id="crlf"),
    C("https://hooks.example.com/\x00", FIELD, id="nul"),
    C("https://hooks.example.com/\x7f", FIELD, id="del"),
    C("https://hooks.example.com/\x85", FIELD, id="c1-nel"),
    # --- non-canonical numeric hosts ---
    C("http://2130706433:{port}/", REFUSED, id="decimal-loopback"),
    C("http://3232235521/", REFUSED, id="decimal-192.168.0.1"),
    C("http://0x7f000001:{port}/", REFUSED, id="hex-loopback"),
    C("http://0x7f.1:{port}/", REFUSED, id="hex-short"),
    C("http://0x7f.0x0.0x0.0x1:{port}/", REFUSED, id="hex-dotted"),
    C("http://0177.0.0.1:{port}/", REFUSED, id="octal-first"),
    C("http://017700000001:{port}/", REFUSED, id="octal-whole"),
    C("http://127.000.000.001:{port}/", REFUSED, id="zero-padded"),
    C("http://127.1:{port}/", REFUSED, id="two-part"),
    C("http://127.0.1:{port}/", REFUSED, id="three-part"),
    C("http://0/", REFUSED, id="zero"),
    C("http://1.1.1.1.1/", REFUSED, id="five-part"),
    C("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/", REFUSED, id="fullwidth-digits"),
    C("http://127\u30020\u30020\u30021:{port}/", REFUSED, id="ideographic-dots"),
    C("http://127.0.0.1.:{port}/", REFUSED, id="trailing-dot-loopback"),
    # --- ports ---
    C("http://hooks.example.com:0/", REFUSED, id="port-0"),
    C("http://hooks.example.com:65536/", REFUSED, id="port-65536"),
    C("http://hooks.example.com:99999/", REFUSED, id="port-99999"),
    C("http://hooks.example.com:-1/", REFUSED, id="port-negative"),
    C("http://hooks.example.com:+443/", REFUSED, id="port-plus"),
    C("http://hooks.example.com:80a/", REFUSED, id="port-letters"),
    C("http://hooks.example.com:/", REFUSED, id="port-empty"),
    C("http://hooks.example.com:443:443/", REFUSED, id="port-twice"),
    # --- length ---
    C(LONG + "a" * (2049 - len(LONG)), FIELD, id="url-2049-chars"),
    C(LONG + "a" * 100_000, FIELD, id="url-100k-chars"),
    C("http://" + "a" * 64 + ".example.com/", REFUSED, id="label-64-chars"),
    C("http://" + "abcdefghi." * 26 + "com/", REFUSED, id="host-over-253"),
    # --- IPv6 forms ---
    C("http://[::1]:{port6}/", REFUSED, id="v6-loopback"),
    C("http://[0:0:0:0:0:0:0:1]:{port6}/", REFUSED, id="v6-loopback-long"),
    C("http://[::]:{port6}/", REFUSED, id="v6-unspecified"),
    C("http://[::ffff:127.0.0.1]:{port}/", REFUSED, id="mapped-loopback"),
    C("http://[::ffff:7f00:1]:{port}/", REFUSED, id="mapped-loopback-hex"),
    C("http://[::ffff:10.0.0.1]/", REFUSED, id="mapped-private"),
    C("http://[::ffff:169.254.169.254]/", REFUSED, id="mapped-metadata"),
    C("http://[::ffff:0:7f00:1]/", REFUSED, id="ipv4-translated"),
    C("http://[::127.0.0.1]/", REFUSED, id="compatible-loopback"),
    C("http://[::a9fe:a9fe]/", REFUSED, id="compatible-metadata"),
    C("http://[64:ff9b::127.0.0.1]/", REFUSED, id="nat64-loopback"),
    C("http://[64:ff9b::a00:5]/", REFUSED, id="nat64-private"),
    C("http://[64:ff9b::a9fe:a9fe]/", REFUSED, id="nat64-metadata"),
    C("http://[64:ff9b::6440:1]/", REFUSED, id="nat64-cgnat"),
    C("http://[64:ff9b:1::a00:5]/", REFUSED, id="nat64-local-use"),
    C("http://[2002:7f00:1::]/", REFUSED, id="6to4-loopback"),
    C("http://[2002:5db8:d822::1]/", REFUSED, id="6to4-public"),
    C("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", REFUSED, id="teredo"),
    C("http://[2001:db8::1]/", REFUSED, id="v6-documentation"),
    C("http://[3fff::1]/", REFUSED, id="v6-documentation-3fff"),
    C("http://[100::1]/", REFUSED, id="v6-discard"),
    C("http://[fc00::1]/", REFUSED, id="v6-unique-local-fc"),
    C("http://[fd12:3456:789a::1]/", REFUSED, id="v6-unique-local-fd"),
    C("http://[fe80::1]/", REFUSED, id="v6-link-local"),
    C("http://[fe80::1%25eth0]/", REFUSED, id="v6-zone-id"),
    C("http://[fec0::1]/", REFUSED, id="v6-site-local"),
    C("http://[ff02::1]/", REFUSED, id="v6-multicast"),
    C("http://[fd00:ec2::254]/", REFUSED, id="v6-aws-metadata"),
    C("http://::1/", REFUSED, id="v6-unbracketed"),
    C("http://[::1/", REFUSED, id="v6-unclosed"),
    C("http://[1:2:3]/", REFUSED, id="v6-invalid"),
    C("http://[::1]x/", REFUSED, id="v6-trailing-junk"),
    # --- IPv4 ranges ---
    C("http://127.0.0.1:{port}/", REFUSED, id="loopback"),
    C("http://127.255.255.254/", REFUSED, id="loopback-top"),
    C("http://0.0.0.0:{port}/", REFUSED, id="unspecified"),
    C("http://0.1.2.3/", REFUSED, id="this-network"),
    C("http://10.0.0.5/", REFUSED, id="rfc1918-10"),
    C("http://172.16.0.1/", REFUSED, id="rfc1918-172.16"),
    C("http://172.31.255.254/", REFUSED, id="rfc1918-172.31"),
    C("http://192.168.0.1/", REFUSED, id="rfc1918-192.168"),
    C("http://100.64.0.1/", REFUSED, id="cgnat-low"),
    C("http://100.127.255.254/", REFUSED, id="cgnat-high"),
    C("http://169.254.169.254/latest/meta-data/", REFUSED, id="metadata-aws"),
    C("http://169.254.170.2/v2/credentials", REFUSED, id="metadata-ecs"),
    C("http://100.100.100.200/latest/meta-data/", REFUSED, id="metadata-alibaba"),
    C("http://168.63.129.16/machine", REFUSED, id="metadata-azure"),
    C("http://169.254.1.1/", REFUSED, id="link-local"),
    C("http://192.0.0.8/", REFUSED, id="ietf-protocol"),
    C("http://192.0.2.1/", REFUSED, id="test-net-1"),
    C("http://198.51.100.7/", REFUSED, id="test-net-2"),
    C("http://203.0.113.9/", REFUSED, id="test-net-3"),
    C("http://198.18.0.1/", REFUSED, id="benchmarking-low"),
    C("http://198.19.255.254/", REFUSED, id="benchmarking-high"),
    C("http://192.88.99.1/", REFUSED, id="6to4-relay"),
    C("http://224.0.0.1/", REFUSED, id="multicast"),
    C("http://239.255.255.250/", REFUSED, id="multicast-ssdp"),
    C("http://240.0.0.1/", REFUSED, id="class-e"),
    C("http://255.255.255.255/", REFUSED, id="broadcast"),
    # --- names refused before any lookup ---
    C("http://localhost:{port}/", REFUSED, id="localhost"),
    C("http://LOCALHOST:{port}/", REFUSED, id="localhost-upper"),
    C("http://localhost.:{port}/", REFUSED, id="localhost-trailing-dot"),
    C("http://api.localhost:{port}/", REFUSED, id="sub-localhost"),
    C("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{port}/", REFUSED, id="fw-lh"),
    C("http://printer.local/", REFUSED, id="dot-local"),
    C("http://metadata.google.internal/computeMetadata/v1/", REFUSED, id="dot-internal"),
    C("http://router.home.arpa/", REFUSED, id="home-arpa"),
    C("http://intranet/", REFUSED, id="single-label"),
    C("http://a..example.com/", REFUSED, id="empty-label"),
    C("http://%6c%6f%63%61%6c%68%6f%73%74:{port}/", REFUSED, id="percent-encoded-host"),
    C("http://xn--a.example.com/", REFUSED, id="bad-punycode"),
    # --- names refused by what they resolve to ---
    C("http://loopback.example.com:{port}/", REFUSED, id="dns-loopback"),
    C("http://v6loop.example.com:{port6}/", REFUSED, id="dns-v6-loopback"),
    C("http://internal.example.com/", REFUSED, id="dns-10"),
    C("http://rfc1918.example.com/", REFUSED, id="dns-192.168"),
    C("http://cgnat.example.com/", REFUSED, id="dns-cgnat"),
    C("http://mixed.example.com/", REFUSED, id="dns-mixed"),
    C("http://mixed-last.example.com:{port}/", REFUSED, id="dns-mixed-loopback-last"),
    C("http://mixed6.example.com:{port6}/", REFUSED, id="dns-mixed-v6-loopback"),
    C("http://metadata.example.com/", REFUSED, id="dns-metadata"),
    C("http://azure.example.com/", REFUSED, id="dns-azure-wireserver"),
    C("http://imds6.example.com/", REFUSED, id="dns-aws-imds-v6"),
    C("http://nat64.example.com/", REFUSED, id="dns-nat64-private"),
    C("http://mapped.example.com:{port}/", REFUSED, id="dns-mapped-loopback"),
    C("http://compatible.example.com/", REFUSED, id="dns-compatible-metadata"),
    C("http://sixtofour.example.com/", REFUSED, id="dns-6to4"),
    C("http://teredo.example.com/", REFUSED, id="dns-teredo"),
    C("http://unspecified.example.com:{port}/", REFUSED, id="dns-unspecified"),
    C("http://ula.example.com/", REFUSED, id="dns-unique-local"),
    C("http://linklocal6.example.com/", REFUSED, id="dns-v6-link-local"),
    C("http://zone.example.com/", REFUSED, id="dns-zone-id"),
    C("http://nowhere.example.com/", REFUSED, id="dns-nxdomain"),
    C("http://empty.example.com/", REFUSED, id="dns-no-answer"),
    C("http://garbage.example.com/", REFUSED, id="dns-garbage-answer"),
]

ACCEPTED = [
    C("https://hooks.example.com/hook", id="name-public"),
    C(f"http://{PUBLIC_V4}/hook", id="ipv4-public"),
    C(f"https://[{PUBLIC_V6}]/dns", id="ipv6-public"),
    C("https://public6.example.com:8443/a?b=c", id="name-public-v6-port"),
    C("https://dual.example.com/", id="name-dual-stack"),
    C("https://hooks.example.com./hook", id="name-trailing-dot"),
    C("https://HOOKS.Example.COM/hook", id="name-upper-case"),
    C("https://b\u00fccher.example.com/", id="name-idn"),
    C("https://stra\u00dfe.example.com/", id="name-idn-2008"),
    C("https://xn--strae-oqa.example.com/", id="name-punycode-2008"),
    C("http://hooks.example.com:65535/", id="port-65535"),
    C("http://hooks.example.com:1/", id="port-1"),
]

PG_SAMPLE = ["nul", "crlf", "userinfo-confusion", "mapped-loopback", "metadata-aws"]
PG_SAMPLE += ["dns-mixed", "dns-nxdomain", "url-2049-chars", "nat64-private", "decimal-loopback"]


class Canaries:
    """Listeners on 127.0.0.1:{port} and [::1]:{port6}: nothing may connect to them."""

    def __init__(self) -> None:
        self.port = 0
        self.port6 = 0
        self.counts = {"v4": 0, "v6": 0}
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        async def serve(family: str, host: str) -> int:
            def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                self.counts[family] += 1
                writer.close()

            server = await asyncio.start_server(accept, host, 0)
            self._servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        self.port = await serve("v4", "127.0.0.1")
        self.port6 = await serve("v6", "::1") if socket.has_ipv6 else 0

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    def url(self, template: str) -> str:
        return template.replace("{port6}", str(self.port6)).replace("{port}", str(self.port))


@dataclass
class Shared:
    """One deployment (default policy, this module's DNS) and the canaries, for the module."""

    stack: Stack
    canary: Canaries
    tenants: Iterator[int] = field(default_factory=itertools.count)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(module_database: str) -> AsyncIterator[Shared]:
    canary = Canaries()
    await canary.start()
    stack = await open_stack(module_database, dns=DNS)
    try:
        yield Shared(stack, canary)
    finally:
        await stack.close()
        await canary.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def acme(shared: Shared) -> Account:
    """A fresh tenant per test: its own webhooks, logs and rate-limit bucket."""
    return await make_account(shared.stack.services, f"tenant-{next(shared.tenants)}")


def expect_refusal(stack: Stack, response: httpx.Response, code: str) -> None:
    stack.api.error(response, 400, code, "url")
    # The error never echoes a huge value.
    assert len(response.text) < 2000, len(response.text)


async def nothing_happened(stack: Stack, acme: Account, *, webhooks: list[Any]) -> None:
    """No webhook beyond ``webhooks``, no delivery, no attempt log."""
    assert await stack.api.all(acme.admin) == webhooks
    logs = await stack.client.get(LOGS, headers=acme.admin)
    assert logs.json()["data"] == [], logs.text
    deliveries = await stack.client.get(DELIVERIES, headers=acme.admin)
    assert deliveries.json()["data"] == [], deliveries.text


async def refused_everywhere(shared: Shared, acme: Account, template: str, code: str) -> None:
    stack, url = shared.stack, shared.canary.url(template)
    body = stack.api.body(url=url, secret="corpus-secret-1")

    # Create: refused, nothing stored.
    expect_refusal(stack, await stack.client.post(WEBHOOKS, headers=acme.admin, json=body), code)
    await nothing_happened(stack, acme, webhooks=[])

    # PATCH of url (alone, and with another field): refused, the webhook unchanged (not even
    # updatedAt).
    created = await stack.api.create(acme.admin, url="https://base.example.com/hook")
    before = await stack.api.get(acme.admin, created["id"])
    path = f"{WEBHOOKS}/{created['id']}"
    response = await stack.client.patch(path, headers=acme.admin, json={"url": url})
    expect_refusal(stack, response, code)
    response = await stack.client.patch(path, headers=acme.admin, json={"url": url, "name": "x"})
    expect_refusal(stack, response, code)
    assert await stack.api.get(acme.admin, created["id"]) == before
    await nothing_happened(stack, acme, webhooks=[before])

    # The test endpoint: refused before any attempt, so no log either.
    test_body = {"url": url, "secret": "corpus-secret-2", "sslVerification": False}
    expect_refusal(stack, await stack.client.post(TEST, headers=acme.admin, json=test_body), code)
    await nothing_happened(stack, acme, webhooks=[before])

    assert shared.canary.counts == {"v4": 0, "v6": 0}


@ON_SQLITE
@pytest.mark.parametrize(("template", "code"), CORPUS)
async def test_refused_on_create_patch_and_test(shared, acme, template, code):
    await refused_everywhere(shared, acme, template, code)


@ON_POSTGRES
@pytest.mark.parametrize(("template", "code"), [case for case in CORPUS if case.id in PG_SAMPLE])
async def test_refused_on_postgres_too(shared, acme, template, code):
    await refused_everywhere(shared, acme, template, code)


async def test_the_corpus_is_big_and_covers_the_contract():
    assert len(CORPUS) >= 80
    assert len({case.id for case in CORPUS}) == len(CORPUS)
    assert len({case.values[0] for case in CORPUS}) == len(CORPUS)
    assert len([case for case in CORPUS if case.id in PG_SAMPLE]) == len(PG_SAMPLE)
    ids = " ".join(case.id for case in CORPUS)
    for kind in [
        "userinfo", "fragment", "backslash", "space", "nul", "decimal", "hex", "octal",
        "two-part", "port-", "2049", "v6-", "6to4", "teredo", "nat64", "mapped", "compatible",
        "metadata", "cgnat", "benchmarking", "test-net", "class-e", "broadcast", "unspecified",
        "localhost", "dot-local", "dot-internal", "home-arpa", "single-label", "dns-mixed",
        "dns-nxdomain", "dns-10",
    ]:  # fmt: skip
        assert kind in ids, kind


@ON_SQLITE
@pytest.mark.parametrize("url", ACCEPTED)
async def test_public_destinations_are_accepted(shared, acme, monkeypatch, url):
    """The other direction: public IPs and names resolving only to public addresses pass on
    create, PATCH and test (where the attempt itself is replaced: tests never leave the box)."""
    stack = shared.stack
    created = await stack.api.create(acme.admin, url=url)
    assert created["url"] == url

    other = await stack.api.create(acme.admin, url="https://base.example.com/hook")
    response = await stack.client.patch(
        f"{WEBHOOKS}/{other['id']}", headers=acme.admin, json={"url": url}
    )
    assert response.status_code == 200, response.text
    assert response.json()["url"] == url

    sent: list[str] = []

    async def send(attempt: Any, headers: Any = None) -> AttemptResult:
        sent.append(attempt.url)
        return AttemptResult(success=True, status_code=204)

    monkeypatch.setattr(stack.services.sender, "send", send)
    response = await stack.client.post(TEST, headers=acme.admin, json={"url": url})
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    response = await stack.client.post(TEST, headers=acme.admin, json={"webhookId": other["id"]})
    assert response.status_code == 200, response.text
    assert sent == [url, url]
    assert shared.canary.counts == {"v4": 0, "v6": 0}


async def test_an_allowed_network_lets_loopback_through_and_the_canary_sees_it(tmp_path):
    """The canaries are live: with loopback allowed, the test endpoint does connect."""
    canary = Canaries()
    await canary.start()
    stack = await open_stack(
        f"sqlite:///{tmp_path}/allowed.db",
        dns=DNS,
        allowed=(ip_network("127.0.0.0/8"), ip_network("::1/128")),
    )
    try:
        acme = await stack.account("acme")
        for template in ["http://loopback.example.com:{port}/", "http://[::1]:{port6}/"]:
            url = canary.url(template)
            await stack.api.create(acme.admin, url=url)
            response = await stack.client.post(TEST, headers=acme.admin, json={"url": url})
            assert response.status_code == 200, response.text
            assert response.json()["success"] is False
        assert canary.counts == {"v4": 1, "v6": 1}
    finally:
        await stack.close()
        await canary.stop()
