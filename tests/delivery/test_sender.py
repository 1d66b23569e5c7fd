"""The sender and its transport, against real loopback receivers and fake resolvers."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import socket
import ssl
from ipaddress import ip_network

import pytest
import trustme
from tests.delivery.conftest import Canaries, FakeResolver, Receiver, Receivers, SenderFactory

from hookline import signing
from hookline.delivery.sender import Attempt, delivery_headers
from hookline.delivery.transport import DestinationRefused, VettingResolver

BODY = json.dumps(
    {"id": "evt_1", "event": "ReportPublished", "data": {"title": "Rapport été ✓"}},
    separators=(",", ":"),
    ensure_ascii=False,
).encode("utf-8")
SECRET = "s3cret-value"
PREFIX = "Failed to call webhook: "


def attempt(url: str, *, secret: str | None = SECRET, verify: bool = True) -> Attempt:
    headers = delivery_headers(
        event="ReportPublished",
        delivery_id="dlv_1",
        attempt=2,
        webhook_id="wh_1",
        secret=secret,
        body=BODY,
    )
    return Attempt(url=url, body=BODY, headers=headers, ssl_verification=verify)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- what the receiver gets, and what comes back ------------------------------------------


async def test_delivers_exact_body_and_headers(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.reply(200, b'{"received":true}', {"X-Receiver": "yes"})
    sender = make_sender(FakeResolver({"receiver.test": ["127.0.0.1"]}), user_agent="Hookline/9")

    result = await sender.send(attempt(receiver.url("/hook?x=1", name="receiver.test")))

    assert result.success
    assert result.error is None
    assert (result.final, result.refused) == (False, False)
    assert result.status_code == 200
    assert result.response_headers["X-Receiver"] == "yes"
    assert result.response_body == '{"received":true}'
    assert result.duration_ms >= 0
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook?x=1", BODY)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "Hookline/9"
    assert got.headers["accept-encoding"] == "identity"
    assert got.headers["x-hookline-event"] == "ReportPublished"
    assert got.headers["x-hookline-delivery"] == "dlv_1"
    assert got.headers["x-hookline-attempt"] == "2"
    assert got.headers["x-hookline-webhook"] == "wh_1"
    assert signing.verify(SECRET, got.body, got.headers["x-authorization-hmac-256"])


async def test_unsigned_without_secret(receiver: Receiver, make_sender: SenderFactory) -> None:
    sender = make_sender(FakeResolver())

    result = await sender.send(attempt(receiver.url(), secret=None))

    assert result.success
    [got] = receiver.requests
    assert "x-authorization-hmac-256" not in got.headers
    assert got.headers["x-hookline-delivery"] == "dlv_1"


def test_delivery_headers_sign_the_body() -> None:
    headers = delivery_headers(
        event="E", delivery_id="d", attempt=1, webhook_id="w", secret="k" * 8, body=b"{}"
    )
    assert headers == {
        "X-Hookline-Event": "E",
        "X-Hookline-Delivery": "d",
        "X-Hookline-Attempt": "1",
        "X-Hookline-Webhook": "w",
        "X-Authorization-HMAC-256": signing.sign("k" * 8, b"{}"),
    }


async def test_attempt_headers_replace_standard_ones_case_insensitively(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(FakeResolver())
    custom = Attempt(url=receiver.url(), body=b"{}", headers={"user-agent": "Custom/1"})

    assert sender.request_headers(custom)["user-agent"] == "Custom/1"
    assert "User-Agent" not in sender.request_headers(custom)
    assert (await sender.send(custom)).success
    assert receiver.requests[0].headers["user-agent"] == "Custom/1"


async def test_request_headers_are_the_standard_ones_then_the_attempts(
    make_sender: SenderFactory,
) -> None:
    sender = make_sender(FakeResolver())
    plain = Attempt(url="http://x/", body=b"{}", headers={"X-Hookline-Event": "E"})

    headers = sender.request_headers(plain)

    assert list(headers.items()) == [
        ("Content-Type", "application/json"),
        ("User-Agent", headers["User-Agent"]),
        ("Accept-Encoding", "identity"),
        ("X-Hookline-Event", "E"),
    ]
    assert headers["User-Agent"].startswith("Hookline")
    headers["X-Other"] = "changed"  # a fresh dict each time: the sender's own is untouched
    assert "X-Other" not in sender.request_headers(plain)


@pytest.mark.parametrize("status", [500, 410, 404, 400])
async def test_non_2xx_fails_with_status(
    receiver: Receiver, make_sender: SenderFactory, status: int
) -> None:
    receiver.reply(status, b"nope")
    sender = make_sender(FakeResolver())

    result = await sender.send(attempt(receiver.url()))

    assert not result.success
    assert result.status_code == status
    assert result.error == f"{PREFIX}HTTP {status}"
    assert result.response_body == "nope"
    assert (result.final, result.refused) == (False, False)  # 410 is the retry policy's call


async def test_retry_after_is_captured(receiver: Receiver, make_sender: SenderFactory) -> None:
    receiver.reply(503, headers={"Retry-After": "120"})
    result = await make_sender(FakeResolver()).send(attempt(receiver.url()))

    assert result.error == f"{PREFIX}HTTP 503"
    assert result.retry_after == "120"


async def test_redirect_is_not_followed(receivers: Receivers, make_sender: SenderFactory) -> None:
    first, target = await receivers.start(), await receivers.start()
    first.reply(302, headers={"Location": target.url()})
    sender = make_sender(FakeResolver())

    result = await sender.send(attempt(first.url()))

    assert not result.success
    assert result.status_code == 302
    assert result.error == f"{PREFIX}redirect not followed (HTTP 302 to {target.url()})"
    assert len(first.requests) == 1
    assert target.requests == []


async def test_redirect_without_location(receiver: Receiver, make_sender: SenderFactory) -> None:
    receiver.reply(307)
    result = await make_sender(FakeResolver()).send(attempt(receiver.url()))

    assert result.error == f"{PREFIX}HTTP 307 (redirects are not followed)"


async def test_slow_receiver_times_out(receiver: Receiver, make_sender: SenderFactory) -> None:
    receiver.reply(200, stall=3.0)
    sender = make_sender(FakeResolver(), timeout=0.3)

    result = await sender.send(attempt(receiver.url()))

    assert not result.success
    assert result.status_code is None
    assert result.error == f"{PREFIX}timed out after 0.3s"
    assert 250 <= result.duration_ms < 1000


async def test_timeout_covers_reading_the_body(make_sender: SenderFactory) -> None:
    # Headers at once, then a body that never ends: the total timeout must still fire.
    release, finished = asyncio.Event(), asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 3)
        writer.close()
        finished.set()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sender = make_sender(FakeResolver(), timeout=0.3)
        result = await sender.send(attempt(f"http://127.0.0.1:{port}/"))
    finally:
        release.set()
        server.close()
        await server.wait_closed()
    await finished.wait()

    assert result.status_code is None
    assert result.error == f"{PREFIX}timed out after 0.3s"
    assert result.duration_ms < 1000


async def test_connection_refused(make_sender: SenderFactory) -> None:
    sender = make_sender(FakeResolver({"down.test": ["127.0.0.1"]}))

    result = await sender.send(attempt(f"http://down.test:{free_port()}/"))

    assert not result.success
    assert result.status_code is None
    assert result.error == f"{PREFIX}connection refused"
    assert (result.final, result.refused) == (False, False)


async def test_reads_at_most_64_kib(receiver: Receiver, make_sender: SenderFactory) -> None:
    receiver.reply(200, b"a" * (1024 * 1024))
    result = await make_sender(FakeResolver()).send(attempt(receiver.url()))

    assert result.success
    assert result.response_body == "a" * 65536


async def test_truncation_does_not_split_a_character(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.reply(200, b"a" + "é".encode() * 40000)
    result = await make_sender(FakeResolver()).send(attempt(receiver.url()))

    assert result.response_body == "a" + "é" * 32767  # the 32768th é is cut in half: dropped


async def test_gzip_body_is_not_decompressed(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    packed = gzip.compress(b'{"ok":true}')
    receiver.reply(200, packed, {"Content-Encoding": "gzip"})

    result = await make_sender(FakeResolver()).send(attempt(receiver.url()))

    assert result.success
    assert result.response_headers["Content-Encoding"] == "gzip"
    assert result.response_body == packed.decode("utf-8", errors="replace")
    assert "ok" not in result.response_body


# --- SSRF at connect time ------------------------------------------------------------------


async def test_refused_answer_is_final(make_sender: SenderFactory) -> None:
    sender = make_sender(FakeResolver({"evil.test": ["10.0.0.5"]}), timeout=1.0)

    result = await sender.send(attempt("http://evil.test:8080/hook"))

    assert not result.success
    assert (result.final, result.refused) == (True, True)
    assert result.status_code is None
    assert result.error == f"{PREFIX}destination 10.0.0.5 is not allowed"


async def test_one_refused_answer_refuses_the_host(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(FakeResolver({"mixed.test": ["127.0.0.1", "10.0.0.5"]}), timeout=1.0)

    result = await sender.send(attempt(receiver.url(name="mixed.test")))

    assert result.refused
    assert result.error == f"{PREFIX}destination 10.0.0.5 is not allowed"
    assert receiver.requests == []


async def test_connection_never_reaches_a_refused_address(
    canaries: Canaries, make_sender: SenderFactory
) -> None:
    canary = await canaries.start("127.0.0.2")
    sender = make_sender(
        FakeResolver({"sneaky.test": ["127.0.0.2"]}),
        allowed=(ip_network("127.0.0.1/32"),),
        timeout=1.0,
    )

    result = await sender.send(attempt(f"http://sneaky.test:{canary.port}/"))

    assert result.refused
    assert result.error == f"{PREFIX}destination 127.0.0.2 is not allowed"
    assert canary.connections == 0


@pytest.mark.parametrize("host", ["10.1.2.3", "[::ffff:10.1.2.3]"])
async def test_ip_literal_is_refused_without_lookup(make_sender: SenderFactory, host: str) -> None:
    resolver = FakeResolver()
    result = await make_sender(resolver, timeout=1.0).send(attempt(f"http://{host}:9/"))

    assert (result.final, result.refused) == (True, True)
    assert result.error is not None
    assert result.error.startswith(f"{PREFIX}destination ")
    assert result.error.endswith(" is not allowed")
    assert resolver.calls == []


async def test_ip_literal_is_refused_without_connecting(
    canaries: Canaries, make_sender: SenderFactory
) -> None:
    canary = await canaries.start("127.0.0.2")
    sender = make_sender(FakeResolver(), allowed=(ip_network("127.0.0.1/32"),), timeout=1.0)

    result = await sender.send(attempt(f"http://127.0.0.2:{canary.port}/"))

    assert result.refused
    assert canary.connections == 0


async def test_allowed_ip_literal_is_delivered_without_lookup(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    resolver = FakeResolver()
    result = await make_sender(resolver).send(attempt(receiver.url()))

    assert result.success
    assert resolver.calls == []


@pytest.mark.parametrize("url", ["http://nowhere.test/hook", "https://example.invalid/"])
async def test_lookup_failure_is_retryable(make_sender: SenderFactory, url: str) -> None:
    result = await make_sender(FakeResolver()).send(attempt(url))

    host = url.split("/")[2]
    assert result.error == f"{PREFIX}{host} does not resolve"
    assert (result.final, result.refused) == (False, False)


async def test_empty_answer_does_not_resolve(make_sender: SenderFactory) -> None:
    result = await make_sender(FakeResolver({"empty.test": []})).send(attempt("http://empty.test/"))

    assert result.error == f"{PREFIX}empty.test does not resolve"
    assert not result.final


@pytest.mark.parametrize("url", ["http://meta.test/latest", "http://169.254.169.254/latest"])
async def test_metadata_address_refused_despite_allowlist(
    make_sender: SenderFactory, url: str
) -> None:
    sender = make_sender(
        FakeResolver({"meta.test": ["169.254.169.254"]}),
        allowed=(ip_network("169.254.0.0/16"),),
        timeout=1.0,
    )

    result = await sender.send(attempt(url))

    assert result.refused
    assert result.error == f"{PREFIX}destination 169.254.169.254 is not allowed"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:8080/", "host localhost is not allowed"),
        ("ftp://files.test/", "URL must use http or https"),
        ("http://user@receiver.test/", "URL must not contain user info"),
        ("http://2130706433/", "not a canonical IPv4 address"),
    ],
)
async def test_malformed_or_refused_url_is_final(
    make_sender: SenderFactory, url: str, reason: str
) -> None:
    resolver = FakeResolver({"receiver.test": ["127.0.0.1"]})
    result = await make_sender(resolver).send(attempt(url))

    assert (result.final, result.refused) == (True, True)
    assert result.error is not None
    assert result.error.startswith(PREFIX)
    assert reason in result.error
    assert resolver.calls == []


async def test_resolves_once_and_connects_to_the_answer(
    receivers: Receivers, make_sender: SenderFactory
) -> None:
    first = await receivers.start("127.0.0.1")
    resolver = FakeResolver({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.3"]})
    sender = make_sender(resolver)

    assert (await sender.send(attempt(first.url(name="a.test")))).success
    assert (await sender.send(attempt(first.url(name="a.test")))).success
    assert resolver.calls == [("a.test", first.port)]  # no second lookup, by anyone

    third = await receivers.start("127.0.0.3")
    result = await sender.send(attempt(third.url(name="b.test")))

    assert result.success
    assert resolver.calls[1:] == [("b.test", third.port)]
    [got] = third.requests
    assert got.headers["host"] == f"b.test:{third.port}"


async def test_vetting_resolver_returns_the_vetted_addresses() -> None:
    answers = FakeResolver({"two.test": ["127.0.0.1", "::1", "127.0.0.1"]})
    resolver = VettingResolver(answers, (ip_network("127.0.0.0/8"), ip_network("::1/128")))

    found = await resolver.resolve("two.test", 443, socket.AF_UNSPEC)
    only_v4 = await resolver.resolve("two.test", 443, socket.AF_INET)

    assert [(r["host"], r["port"], r["family"]) for r in found] == [
        ("127.0.0.1", 443, socket.AF_INET),
        ("::1", 443, socket.AF_INET6),
    ]
    assert [r["host"] for r in only_v4] == ["127.0.0.1"]
    with pytest.raises(DestinationRefused, match=r"^destination 127\.0\.0\.1 is not allowed$"):
        await VettingResolver(answers, ()).resolve("two.test", 443, socket.AF_UNSPEC)
    with pytest.raises(OSError, match=r"^gone\.test does not resolve$"):
        await resolver.resolve("gone.test", 443, socket.AF_UNSPEC)


async def test_proxy_environment_is_ignored(
    receiver: Receiver,
    canaries: Canaries,
    make_sender: SenderFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary = await canaries.start("127.0.0.1")
    proxy = f"http://127.0.0.1:{canary.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
        monkeypatch.setenv(name.lower(), proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sender = make_sender(FakeResolver({"receiver.test": ["127.0.0.1"]}))

    result = await sender.send(attempt(receiver.url(name="receiver.test")))

    assert result.success
    assert len(receiver.requests) == 1
    assert canary.connections == 0


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrusted_ca() -> trustme.CA:
    """A certificate authority no default trust store knows."""
    return trustme.CA()


@pytest.fixture
def tls_server_context(untrusted_ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for secure.test from :func:`untrusted_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted_ca.issue_cert("secure.test").configure_cert(context)
    return context


async def test_untrusted_certificate_is_a_tls_error(
    receivers: Receivers,
    make_sender: SenderFactory,
    tls_server_context: ssl.SSLContext,
) -> None:
    server_names: list[str | None] = []
    tls_server_context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    receiver = await receivers.start(ssl_context=tls_server_context)
    sender = make_sender(FakeResolver({"secure.test": ["127.0.0.1"]}))

    result = await sender.send(attempt(receiver.url(name="secure.test")))

    assert not result.success
    assert result.error is not None
    assert result.error.startswith(f"{PREFIX}TLS error: certificate verify failed")
    assert (result.final, result.refused) == (False, False)
    assert receiver.requests == []
    assert server_names == ["secure.test"]  # TLS names the URL's host, not the address


async def test_ssl_verification_off_accepts_the_certificate(
    receivers: Receivers,
    make_sender: SenderFactory,
    tls_server_context: ssl.SSLContext,
) -> None:
    receiver = await receivers.start(ssl_context=tls_server_context)
    sender = make_sender(FakeResolver({"secure.test": ["127.0.0.1"]}))

    result = await sender.send(attempt(receiver.url(name="secure.test"), verify=False))

    assert result.success
    assert receiver.requests[0].body == BODY


# --- never raises ----------------------------------------------------------------------------


async def test_unexpected_error_becomes_a_failed_result(
    make_sender: SenderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver bug")

    with caplog.at_level(logging.ERROR, logger="hookline.delivery.sender"):
        result = await make_sender(broken).send(attempt("http://broken.test/"))

    assert result.error == f"{PREFIX}unexpected error: RuntimeError"
    assert not result.final
    assert "broken.test" in caplog.text
