"""Tests for the SSRF policy (CONTRACT section 6): URL shape, names, addresses, allowlist."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from hookline.delivery.ssrf import (
    METADATA_ADDRESSES,
    IPAddress,
    TargetUrl,
    address_refusal,
    parse_allowed_networks,
    parse_target_url,
    system_resolver,
    vet_addresses,
    vet_url,
)
from hookline.errors import UrlNotAllowed


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


class FakeResolver:
    """Answers every lookup with a fixed list (or raises), and records the calls."""

    def __init__(self, answer: Sequence[str] = (), error: OSError | None = None) -> None:
        self.answer = list(answer)
        self.error = error
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if self.error is not None:
            raise self.error
        return self.answer


# --- addresses ---------------------------------------------------------------------------

REFUSED_IPV4 = [
    # (first, last) of each refused range, plus well-known members
    "0.0.0.0",
    "0.255.255.255",
    "10.0.0.0",
    "10.0.0.5",
    "10.255.255.255",
    "100.64.0.0",
    "100.127.255.255",
    "127.0.0.0",
    "127.0.0.1",
    "127.255.255.255",
    "169.254.0.0",
    "169.254.255.255",
    "172.16.0.0",
    "172.31.255.255",
    "192.0.0.0",
    "192.0.0.255",
    "192.0.2.0",
    "192.0.2.255",
    "192.88.99.0",
    "192.88.99.255",
    "192.168.0.0",
    "192.168.255.255",
    "198.18.0.0",
    "198.19.255.255",
    "198.51.100.0",
    "198.51.100.255",
    "203.0.113.0",
    "203.0.113.255",
    "224.0.0.0",
    "239.255.255.255",
    "240.0.0.0",
    "255.255.255.254",
    "255.255.255.255",
]

REFUSED_IPV6 = [
    "::",
    "::1",
    "::ffff:0:0:0",  # IPv4-translated
    "::ffff:0:ffff:ffff",
    "64:ff9b:1::",  # local-use NAT64
    "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
    "100::",  # discard-only
    "100::ffff:ffff:ffff:ffff",
    "2001::",  # Teredo
    "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo wrapping a public IPv4: still refused
    "2001:2::1",  # benchmarking
    "2001:10::1",  # ORCHID
    "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff",  # ORCHIDv2
    "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",  # end of 2001::/23
    "2001:db8::",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
    "2002::",  # 6to4
    "2002:808:808::1",  # 6to4 of public 8.8.8.8: refused whole
    "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "3fff::",
    "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fc00::",
    "fd00::1",
    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::",
    "fe80::1",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fec0::",
    "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "ff00::",
    "ff02::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "1::1",  # outside global unicast 2000::/3
    "4000::1",
    "5f00::1",
    "fe80::1%eth0",  # scoped
    "2606:4700:4700::1111%1",  # scoped, even though the address itself is public
]

REFUSED_EMBEDDED = [
    "::ffff:0.0.0.0",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:192.168.1.1",
    "::ffff:255.255.255.255",
    "::0.0.0.2",  # IPv4-compatible
    "::10.0.0.1",
    "::127.0.0.1",
    "::169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::10.1.2.3",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::100.100.100.200",
    "64:ff9b::168.63.129.16",  # NAT64 of a public metadata address
    "64:ff9b::ffff:ffff",
]

METADATA = [
    "169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "100.100.100.200",
    "168.63.129.16",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "9.255.255.255",  # just outside 10/8
    "11.0.0.0",
    "100.63.255.255",  # just outside 100.64/10
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.255",
    "192.0.3.0",
    "192.88.98.255",
    "192.88.100.0",
    "192.167.255.255",
    "192.169.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "198.51.99.255",
    "198.51.101.0",
    "203.0.112.255",
    "203.0.114.0",
    "223.255.255.255",  # last before multicast
    "168.63.129.15",  # neighbours of the public metadata address
    "168.63.129.17",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:81c::200e",
    "2001:200::1",  # just after 2001::/23
    "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",  # just before documentation
    "2001:db9::1",
    "2003::1",  # just after 6to4
    "3fff:1000::1",  # just after 3fff::/20
    "::ffff:8.8.8.8",  # embedded public IPv4 forms
    "::ffff:1.1.1.1",
    "::8.8.8.8",
    "64:ff9b::808:808",
    "64:ff9b::1.1.1.1",
    "64:ff9b::93.184.216.34",
]


@pytest.mark.parametrize("text", REFUSED_IPV4 + REFUSED_IPV6 + REFUSED_EMBEDDED + METADATA)
def test_refused_address(text: str) -> None:
    address = ip(text)
    assert address_refusal(address) == f"destination {address} is not allowed"


@pytest.mark.parametrize("text", ALLOWED)
def test_allowed_address(text: str) -> None:
    assert address_refusal(ip(text)) is None


def test_refusal_message_is_exact() -> None:
    assert address_refusal(ip("10.0.0.5")) == "destination 10.0.0.5 is not allowed"


def test_metadata_addresses_are_the_contract_list() -> None:
    assert {ip(text) for text in METADATA} == METADATA_ADDRESSES


@pytest.mark.parametrize(
    ("text", "allowed", "expected_allowed"),
    [
        ("127.0.0.1", "127.0.0.0/8", True),
        ("127.0.0.1", "10.0.0.0/8", False),
        ("10.1.2.3", "10.0.0.0/8, 192.168.0.0/16", True),
        ("192.168.7.7", "10.0.0.0/8, 192.168.0.0/16", True),
        ("172.16.0.1", "10.0.0.0/8, 192.168.0.0/16", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("10.0.0.2", "10.0.0.1", False),
        ("::1", "::1", True),
        ("::1", "127.0.0.0/8", False),
        ("fd12::1", "fc00::/7", True),
        ("2002::1", "2002::/16", True),
        # embedded IPv4 is judged with the allowlist, as the IPv4 address
        ("::ffff:127.0.0.1", "127.0.0.0/8", True),
        ("64:ff9b::7f00:1", "127.0.0.0/8", True),
        ("::127.0.0.1", "127.0.0.0/8", True),
        # ... and an entry for the IPv6 wrapper does not count
        ("::ffff:127.0.0.1", "::ffff:0:0/96", False),
        ("64:ff9b::a00:1", "64:ff9b::/96", False),
        # metadata stays refused inside an allowed range
        ("169.254.169.254", "169.254.0.0/16", False),
        ("169.254.1.1", "169.254.0.0/16", True),
        ("169.254.169.254", "0.0.0.0/0", False),
        ("169.254.170.2", "169.254.169.254/32", False),
        ("100.100.100.200", "100.64.0.0/10", False),
        ("100.100.100.201", "100.64.0.0/10", True),
        ("168.63.129.16", "168.63.129.0/24", False),
        ("fd00:ec2::254", "fc00::/7", False),
        ("fd00:ec2::253", "fc00::/7", True),
        ("fd00:ec2::254", "::/0", False),
        ("::ffff:169.254.169.254", "0.0.0.0/0", False),
        ("64:ff9b::a9fe:a9fe", "169.254.0.0/16", False),
        # ... unless listed as a single address
        ("169.254.169.254", "169.254.169.254/32", True),
        ("169.254.169.254", "169.254.169.254", True),
        ("169.254.169.254", "169.254.169.254/31", False),
        ("fd00:ec2::254", "fd00:ec2::254/127", False),
        ("169.254.170.2", "10.0.0.0/8, 169.254.170.2/32", True),
        ("100.100.100.200", "100.100.100.200/32", True),
        ("168.63.129.16", "168.63.129.16/32", True),
        ("fd00:ec2::254", "fd00:ec2::254/128", True),
        ("::ffff:169.254.169.254", "169.254.169.254/32", True),
        ("169.254.169.254", "::ffff:169.254.169.254/128", False),
        # scoped addresses are never exempt
        ("fe80::1%eth0", "fe80::/10", False),
        ("fd00:ec2::254%1", "fc00::/7", False),
    ],
)
def test_allowlist(text: str, allowed: str, expected_allowed: bool) -> None:
    networks = parse_allowed_networks(allowed)
    reason = address_refusal(ip(text), networks)
    if expected_allowed:
        assert reason is None
    else:
        assert reason == f"destination {ip(text)} is not allowed"


# --- vet_addresses -----------------------------------------------------------------------


def test_vet_addresses_returns_parsed_deduplicated_in_order() -> None:
    result = vet_addresses(["8.8.8.8", ip("1.1.1.1"), "8.8.8.8", "2606:4700:4700::1111"])
    assert result == [ip("8.8.8.8"), ip("1.1.1.1"), ip("2606:4700:4700::1111")]


@pytest.mark.parametrize(
    ("addresses", "bad"),
    [
        (["8.8.8.8", "10.0.0.5"], "10.0.0.5"),
        (["10.0.0.5", "8.8.8.8"], "10.0.0.5"),
        (["2606:4700:4700::1111", "::1"], "::1"),
        (["1.1.1.1", "169.254.169.254"], "169.254.169.254"),
        (["1.1.1.1", "not-an-address"], "not-an-address"),
    ],
)
def test_vet_addresses_one_bad_refuses_all(addresses: list[str], bad: str) -> None:
    with pytest.raises(UrlNotAllowed, match=f"^destination {re.escape(bad)} is not allowed$"):
        vet_addresses(addresses)


def test_vet_addresses_empty_does_not_resolve() -> None:
    with pytest.raises(UrlNotAllowed, match=r"^destination does not resolve$"):
        vet_addresses([])


def test_vet_addresses_applies_allowlist() -> None:
    allowed = parse_allowed_networks("127.0.0.0/8")
    assert vet_addresses(["127.0.0.1", "8.8.8.8"], allowed) == [ip("127.0.0.1"), ip("8.8.8.8")]


def test_refusal_is_url_not_allowed_400() -> None:
    with pytest.raises(UrlNotAllowed) as caught:
        vet_addresses(["10.0.0.5"])
    assert (caught.value.code, caught.value.status) == ("url_not_allowed", 400)


# --- parse_target_url: accepted ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "address"),
    [
        ("http://example.com/", "http", "example.com", 80, None),
        ("https://example.com", "https", "example.com", 443, None),
        ("HTTPS://Example.COM:8443/Path?Q=1", "https", "example.com", 8443, None),
        ("http://example.com:1/", "http", "example.com", 1, None),
        ("http://example.com:65535/", "http", "example.com", 65535, None),
        ("https://example.com:0443/", "https", "example.com", 443, None),
        ("http://example.com?x=1", "http", "example.com", 80, None),
        ("http://example.com/a@b", "http", "example.com", 80, None),
        ("http://example.com/?next=http://user@10.0.0.1/", "http", "example.com", 80, None),
        ("http://example.com/a%20b?c=%23", "http", "example.com", 80, None),
        ("http://example.com./", "http", "example.com", 80, None),
        ("http://Sub.Example.co.uk:8080/hooks/1", "http", "sub.example.co.uk", 8080, None),
        ("http://1e100.net/", "http", "1e100.net", 80, None),
        ("http://123.example.com/", "http", "123.example.com", 80, None),
        ("http://0x7f.example.com/", "http", "0x7f.example.com", 80, None),
        ("http://my_host.example.com/", "http", "my_host.example.com", 80, None),
        ("http://bücher.de/", "http", "xn--bcher-kva.de", 80, None),
        ("http://BÜCHER.de/", "http", "xn--bcher-kva.de", 80, None),
        ("http://xn--bcher-kva.de/", "http", "xn--bcher-kva.de", 80, None),
        ("https://例え.jp/hook", "https", "xn--r8jz45g.jp", 443, None),
        ("http://8.8.8.8/", "http", "8.8.8.8", 80, "8.8.8.8"),
        # IP literals are recorded, not judged, so that the allowlist can apply later
        ("http://127.0.0.1:8080/", "http", "127.0.0.1", 8080, "127.0.0.1"),
        ("http://127.0.0.1./", "http", "127.0.0.1", 80, "127.0.0.1"),
        ("http://１２７.０.０.１/", "http", "127.0.0.1", 80, "127.0.0.1"),
        ("http://[::1]/", "http", "::1", 80, "::1"),
        (
            "https://[2606:4700:4700::1111]:8443/",
            "https",
            "2606:4700:4700::1111",
            8443,
            "2606:4700:4700::1111",
        ),
        (
            "http://[2606:4700:4700:0:0:0:0:1111]/",
            "http",
            "2606:4700:4700::1111",
            80,
            "2606:4700:4700::1111",
        ),
        ("http://[::FFFF:127.0.0.1]/", "http", str(ip("::ffff:127.0.0.1")), 80, "::ffff:127.0.0.1"),
    ],
)
def test_accepted_url(url: str, scheme: str, host: str, port: int, address: str | None) -> None:
    expected = TargetUrl(url, scheme, host, port, None if address is None else ip(address))
    assert parse_target_url(url) == expected


def test_url_of_exactly_2048_characters_is_accepted() -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert len(url) == 2048
    assert parse_target_url(url).host == "example.com"


def test_require_https_accepts_https() -> None:
    assert parse_target_url("https://example.com/", require_https=True).scheme == "https"


def test_target_url_is_frozen() -> None:
    target = parse_target_url("https://example.com/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.host = "10.0.0.1"  # type: ignore[misc]


# --- parse_target_url: refused -----------------------------------------------------------

SCHEME = "URL must use http or https"
ABSOLUTE = "URL must be absolute"
NO_HOST = "URL must have a host"
USER_INFO = "URL must not contain user info"
FRAGMENT = "URL must not contain a fragment"
BACKSLASH = "URL must not contain backslashes"
CONTROL = "URL must not contain whitespace or control characters"
PORT = "URL port must be a number from 1 to 65535"
NUMERIC = "is not a canonical IPv4 address"
EMPTY_LABEL = "has an empty label"
BAD_NAME = "is not a valid host name"
BRACKETS = "IPv6 addresses in URLs must be in brackets"
BAD_IPV6 = "is not a valid IPv6 address"
ZONE = "URL must not contain an IPv6 zone id"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # scheme and shape
        ("ftp://example.com/", SCHEME),
        ("file:///etc/passwd", SCHEME),
        ("gopher://example.com:70/", SCHEME),
        ("javascript:alert(1)", SCHEME),
        ("ws://example.com/", SCHEME),
        ("", ABSOLUTE),
        ("/hooks/1", ABSOLUTE),
        ("//example.com/hook", ABSOLUTE),
        ("http:example.com", ABSOLUTE),
        ("http:/example.com/", ABSOLUTE),
        ("http://", NO_HOST),
        ("http:///hook", NO_HOST),
        ("http://:8080/", NO_HOST),
        ("http://?q=1", NO_HOST),
        # user info
        ("http://user@example.com/", USER_INFO),
        ("http://user:pw@example.com/", USER_INFO),
        ("http://@example.com/", USER_INFO),
        ("http://example.com@127.0.0.1/", USER_INFO),
        ("http://example.com:80@10.0.0.1/", USER_INFO),
        # fragments
        ("http://example.com/#x", FRAGMENT),
        ("http://example.com#", FRAGMENT),
        ("http://example.com/?a=1#@127.0.0.1", FRAGMENT),
        # backslashes
        ("http://example.com\\@127.0.0.1/", BACKSLASH),
        ("http:\\\\example.com\\", BACKSLASH),
        ("http://example.com/a\\b", BACKSLASH),
        # whitespace and control characters anywhere
        (" http://example.com/", CONTROL),
        ("http://example.com/ ", CONTROL),
        ("http://exa mple.com/", CONTROL),
        ("http://example.com/\t", CONTROL),
        ("http://example.com/\n", CONTROL),
        ("http://example.com\r\n/", CONTROL),
        ("http://example.com/\x00", CONTROL),
        ("http://example.com/\x1b", CONTROL),
        ("http://example.com/\x7f", CONTROL),
        ("http://example.com/\x85", CONTROL),
        ("http://example.com/\u00a0", CONTROL),
        ("http://example.com/\u2028", CONTROL),
        ("http://exa\u200bmple.com/", CONTROL),
        ("http://exa\u00admple.com/", CONTROL),
        # non-canonical numeric hosts
        ("http://2130706433/", NUMERIC),
        ("http://0x7f.1/", NUMERIC),
        ("http://0177.0.0.1/", NUMERIC),
        ("http://127.1/", NUMERIC),
        ("http://127.0.1/", NUMERIC),
        ("http://0x7f000001/", NUMERIC),
        ("http://127.0.0.01/", NUMERIC),
        ("http://010.0.0.1/", NUMERIC),
        ("http://0x7f.0x0.0x0.0x1/", NUMERIC),
        ("http://0X7F.0.0.1/", NUMERIC),
        ("http://1.2.3.4.5/", NUMERIC),
        ("http://256.0.0.1/", NUMERIC),
        ("http://0/", NUMERIC),
        ("http://example.0x1/", NUMERIC),
        ("http://example.123/", NUMERIC),
        ("http://１２７.1/", NUMERIC),
        # ports
        ("http://example.com:0/", PORT),
        ("http://example.com:65536/", PORT),
        ("http://example.com:99999/", PORT),
        ("http://example.com:123456/", PORT),
        ("http://example.com:-1/", PORT),
        ("http://example.com:+80/", PORT),
        ("http://example.com:abc/", PORT),
        ("http://example.com:/", PORT),
        ("http://example.com:8o/", PORT),
        ("http://example.com:\u0668\u0660/", PORT),  # Arabic-Indic digits
        ("http://[::1]:0/", PORT),
        # refused names
        ("http://localhost/", "host localhost is not allowed"),
        ("http://LOCALHOST:8080/", "host localhost is not allowed"),
        ("http://localhost./", "host localhost is not allowed"),
        ("http://ｌｏｃａｌｈｏｓｔ/", "host localhost is not allowed"),
        ("http://api.localhost/", "host api.localhost is not allowed"),
        ("http://printer.local/", "host printer.local is not allowed"),
        ("http://Printer.LOCAL./", "host printer.local is not allowed"),
        ("http://metadata.google.internal/", "host metadata.google.internal is not allowed"),
        ("http://router.home.arpa/", "host router.home.arpa is not allowed"),
        ("http://home.arpa/", "host home.arpa is not allowed"),
        ("http://intranet/", "host intranet is not allowed"),
        ("http://intranet./", "host intranet is not allowed"),
        ("http://com/", "host com is not allowed"),
        # malformed names
        ("http://a..example.com/", EMPTY_LABEL),
        ("http://.example.com/", EMPTY_LABEL),
        ("http://example.com../", EMPTY_LABEL),
        ("http://./", EMPTY_LABEL),
        ("http://127.0.0.1../", EMPTY_LABEL),
        ("http://exa%6dple.com/", BAD_NAME),
        ("http://exa$mple.com/", BAD_NAME),
        ("http://user＠example.com/", BAD_NAME),
        ("http://example.com／@10.0.0.1/", USER_INFO),
        ("http://xn--zz.example.com/", BAD_NAME),
        ("http://xn--localhost-.example.com/", BAD_NAME),
        ("http://" + "a" * 64 + ".example.com/", BAD_NAME),
        ("http://" + "a." * 126 + "com/", BAD_NAME),
        ("http://é..com/", BAD_NAME),
        # IPv6 literals
        ("http://::1/", BRACKETS),
        ("http://2001:db8::1/", BRACKETS),
        ("http://[::1/", BAD_IPV6),
        ("http://[127.0.0.1]/", BAD_IPV6),
        ("http://[::g]/", BAD_IPV6),
        ("http://[v1.abc]/", BAD_IPV6),
        ("http://[localhost]/", BAD_IPV6),
        ("http://[::1]x/", "after the IPv6 address"),
        ("http://[fe80::1%25eth0]/", ZONE),
        ("http://[fe80::1%eth0]:8080/", ZONE),
        # length
        ("https://example.com/" + "a" * 2029, "URL is longer than 2048 characters"),
    ],
)
def test_refused_url(url: str, message: str) -> None:
    with pytest.raises(UrlNotAllowed, match=re.escape(message)):
        parse_target_url(url)


def test_require_https_refuses_http() -> None:
    with pytest.raises(UrlNotAllowed, match=r"^URL must use https$"):
        parse_target_url("http://example.com/", require_https=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://" + "a" * 300 + ".example.com/",
        "http://" + "1" * 300 + "/",
        "http://[" + "1" * 300 + "]/",
        "https://example.com/" + "x" * 5000,
    ],
)
def test_refusal_messages_are_one_short_line(url: str) -> None:
    with pytest.raises(UrlNotAllowed) as caught:
        parse_target_url(url)
    assert "\n" not in caught.value.message
    assert len(caught.value.message) <= 160


# --- vet_url -----------------------------------------------------------------------------


def test_vet_url_public_name_returns_resolved_addresses() -> None:
    resolver = FakeResolver(["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"])
    target, addresses = asyncio.run(vet_url("https://hooks.example.com/in", resolver=resolver))
    assert target.host == "hooks.example.com"
    assert addresses == [ip("93.184.216.34"), ip("2606:2800:220:1::1")]
    assert resolver.calls == [("hooks.example.com", 443)]


@pytest.mark.parametrize(
    ("answer", "bad"),
    [
        (["93.184.216.34", "10.0.0.5"], "10.0.0.5"),
        (["192.168.1.1", "93.184.216.34"], "192.168.1.1"),
        (["93.184.216.34", "169.254.169.254"], "169.254.169.254"),
        (["2606:4700:4700::1111", "::1"], "::1"),
        (["::ffff:127.0.0.1"], "::ffff:7f00:1"),
        (["64:ff9b::a9fe:a9fe"], "64:ff9b::a9fe:a9fe"),
    ],
)
def test_vet_url_name_resolving_to_any_refused_address_is_refused(
    answer: list[str], bad: str
) -> None:
    resolver = FakeResolver(answer)
    expected = f"^destination {re.escape(bad)} is not allowed$"
    with pytest.raises(UrlNotAllowed, match=expected):
        asyncio.run(vet_url("http://rebind.example.com/", resolver=resolver))
    assert resolver.calls == [("rebind.example.com", 80)]


@pytest.mark.parametrize(
    "resolver",
    [
        FakeResolver([]),
        FakeResolver(error=socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
        FakeResolver(error=OSError("network unreachable")),
    ],
)
def test_vet_url_unresolvable_name(resolver: FakeResolver) -> None:
    with pytest.raises(UrlNotAllowed, match=r"^example\.invalid does not resolve$"):
        asyncio.run(vet_url("https://example.invalid:8443/", resolver=resolver))
    assert resolver.calls == [("example.invalid", 8443)]


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("http://8.8.8.8/", "", "8.8.8.8"),
        ("http://[2606:4700:4700::1111]/", "", "2606:4700:4700::1111"),
        ("http://[64:ff9b::808:808]/", "", "64:ff9b::808:808"),
        ("http://127.0.0.1:9000/", "127.0.0.0/8", "127.0.0.1"),
        ("http://[::1]:9000/", "::1/128", "::1"),
        ("http://169.254.169.254/", "169.254.169.254/32", "169.254.169.254"),
    ],
)
def test_vet_url_ip_literal_is_not_looked_up(url: str, allowed: str, expected: str) -> None:
    resolver = FakeResolver(["10.0.0.1"])
    networks = parse_allowed_networks(allowed)
    _, addresses = asyncio.run(vet_url(url, resolver=resolver, allowed=networks))
    assert addresses == [ip(expected)]
    assert resolver.calls == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "destination 127.0.0.1 is not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "destination 169.254.169.254 is not allowed"),
        ("http://[::1]/", "destination ::1 is not allowed"),
        ("http://[::ffff:10.0.0.1]/", f"destination {ip('::ffff:10.0.0.1')} is not allowed"),
        ("http://[2002:7f00:1::]/", "destination 2002:7f00:1:: is not allowed"),
        ("http://0.0.0.0/", "destination 0.0.0.0 is not allowed"),
        ("http://localhost/", "host localhost is not allowed"),
        ("http://2130706433/", "host 2130706433 is not a canonical IPv4 address"),
    ],
)
def test_vet_url_refuses_without_lookup(url: str, message: str) -> None:
    resolver = FakeResolver(["93.184.216.34"])
    with pytest.raises(UrlNotAllowed, match=f"^{re.escape(message)}"):
        asyncio.run(vet_url(url, resolver=resolver))
    assert resolver.calls == []


def test_vet_url_metadata_literal_stays_refused_inside_allowed_range() -> None:
    resolver = FakeResolver()
    allowed = parse_allowed_networks("169.254.0.0/16")
    with pytest.raises(UrlNotAllowed, match=r"^destination 169\.254\.169\.254 is not allowed$"):
        asyncio.run(vet_url("http://169.254.169.254/", resolver=resolver, allowed=allowed))


def test_vet_url_allowlist_applies_to_resolved_addresses() -> None:
    resolver = FakeResolver(["127.0.0.1"])
    allowed = parse_allowed_networks("127.0.0.0/8")
    target, addresses = asyncio.run(
        vet_url("http://dev.example.test:9000/", resolver=resolver, allowed=allowed)
    )
    assert (target.host, target.port, addresses) == ("dev.example.test", 9000, [ip("127.0.0.1")])


def test_vet_url_require_https() -> None:
    resolver = FakeResolver(["93.184.216.34"])
    with pytest.raises(UrlNotAllowed, match=r"^URL must use https$"):
        asyncio.run(vet_url("http://example.com/", resolver=resolver, require_https=True))
    assert resolver.calls == []


# --- system_resolver ---------------------------------------------------------------------


def test_system_resolver_numeric_host() -> None:
    assert asyncio.run(system_resolver("127.0.0.1", 80)) == ["127.0.0.1"]


def test_system_resolver_deduplicates_keeps_order_and_skips_other_families() -> None:
    seen: list[tuple[Any, ...]] = []

    async def fake_getaddrinfo(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        seen.append((*args, kwargs))
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET6, stream, 6, "", ("2606:4700:4700::1111", 443, 0, 0)),
            (socket.AF_INET, stream, 6, "", ("1.1.1.1", 443)),
            (socket.AF_INET6, stream, 6, "", ("2606:4700:4700::1111", 443, 0, 0)),
            (socket.AF_UNIX, stream, 0, "", "/run/socket"),
            (socket.AF_INET, stream, 6, "", ("1.0.0.1", 443)),
        ]

    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = fake_getaddrinfo  # type: ignore[method-assign]
        return await system_resolver("one.one.one.one", 443)

    assert asyncio.run(run()) == ["2606:4700:4700::1111", "1.1.1.1", "1.0.0.1"]
    assert seen == [("one.one.one.one", 443, {"type": socket.SOCK_STREAM})]


# --- parse_allowed_networks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("127.0.0.0/8", ("127.0.0.0/8",)),
        ("10.0.0.0/8,192.168.0.0/16", ("10.0.0.0/8", "192.168.0.0/16")),
        (" 10.0.0.0/8 , 192.168.0.0/16 ", ("10.0.0.0/8", "192.168.0.0/16")),
        ("10.0.0.1", ("10.0.0.1/32",)),
        ("::1", ("::1/128",)),
        ("fc00::/7, 127.0.0.0/8", ("fc00::/7", "127.0.0.0/8")),
        ("169.254.169.254/32", ("169.254.169.254/32",)),
        ("0.0.0.0/0", ("0.0.0.0/0",)),
    ],
)
def test_parse_allowed_networks(text: str, expected: tuple[str, ...]) -> None:
    assert parse_allowed_networks(text) == tuple(ipaddress.ip_network(n) for n in expected)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("not-a-network", "not-a-network"),
        ("127.0.0.0/8, localhost", "localhost"),
        ("10/8", "10/8"),
        ("10.0.0.1/8", "10.0.0.0/8"),  # host bits set: suggests the network
        ("fe80::%eth0/64", "fe80::%eth0/64"),
        ("10.0.0.0/8,", "empty entry"),
        ("10.0.0.0/8,,192.168.0.0/16", "empty entry"),
        (",", "empty entry"),
        ("x" * 500, "x" * 50),
    ],
)
def test_parse_allowed_networks_bad_entry(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as caught:
        parse_allowed_networks(text)
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) <= 200
