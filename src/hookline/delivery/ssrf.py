"""SSRF policy: which webhook URLs Hookline may call, and which addresses it may connect to.

Pure policy, no I/O except :func:`system_resolver`. The guard has two halves:

* :func:`parse_target_url` checks the URL's shape and refuses dangerous names before any
  lookup (``localhost``, ``*.internal``, single-label names, non-canonical numeric hosts...).
* :func:`address_refusal` / :func:`vet_addresses` judge every address the host resolves to
  against an explicit table of refused ranges. ``ipaddress.is_global`` is not used: it calls
  several of them global (6to4 ``2002::/16``, NAT64 of private addresses, ``192.88.99.0/24``).

:func:`vet_url` runs both halves; the caller must connect to the addresses it returns and never
look the name up again (a second lookup could answer differently: DNS rebinding).

IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, IPv4-compatible
``::/96`` and NAT64 ``64:ff9b::/96``) are judged as the embedded IPv4 address, fully: the
metadata rule, the allowlist and the IPv4 table all apply to the embedded address, and an
allowlist entry for the IPv6 wrapper does not count. ``::`` and ``::1`` are not treated as
IPv4-compatible; they are the IPv6 unspecified and loopback addresses.

The allowlist (``HOOKLINE_ALLOWED_NETWORKS``) exempts addresses from the table, but never the
cloud metadata addresses: those are exempt only when listed as a single address (/32, /128).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import idna

from hookline.errors import UrlNotAllowed

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> address strings``; raises :class:`OSError` when the name does not resolve."""

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address: only this rule refuses it)
    )
)


def _networks(*texts: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


_REFUSED_IPV4 = _networks(
    "0.0.0.0/8",  # "this network", incl. the unspecified address
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local
    "172.16.0.0/12",  # private (RFC 1918)
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.88.99.0/24",  # 6to4 relay anycast
    "192.168.0.0/16",  # private (RFC 1918)
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved (class E), incl. broadcast 255.255.255.255
)

_REFUSED_IPV6 = _networks(
    "::/128",  # unspecified
    "::1/128",  # loopback
    "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
    "64:ff9b:1::/48",  # local-use NAT64: the IPv4 address is not at a fixed place
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments, incl. Teredo, benchmarking, ORCHID
    "2001::/32",  # Teredo (already inside 2001::/23; named because the contract names it)
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4: the embedded IPv4 may be anything, refuse it whole
    "3fff::/20",  # documentation
    "fc00::/7",  # unique-local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local (deprecated)
    "ff00::/8",  # multicast
)

# Everything outside global unicast is unassigned or special-purpose, including whatever IANA
# carves out of it later. The embedded-IPv4 prefixes below are judged before this rule.
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

# Prefixes whose low 32 bits are an IPv4 address that gets judged instead of the IPv6 form.
_IPV4_EMBEDDING_PREFIXES = _networks(
    "::ffff:0:0/96",  # IPv4-mapped
    "64:ff9b::/96",  # NAT64 well-known prefix
    "::/96",  # IPv4-compatible (deprecated)
)
_NOT_EMBEDDING = frozenset({ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")})

_MAX_URL_LENGTH = 2048
_MAX_ECHO = 100
_MAX_HOST_LENGTH = 253
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_AUTHORITY_END_RE = re.compile(r"[/?]")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_LABEL_RE = re.compile(r"[a-z0-9_-]{1,63}")
# A last label like this makes URL parsers and inet_aton() read the host as an IPv4 address.
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0x[0-9a-f]*")
# The name itself and every name under it.
_REFUSED_DOMAINS = ("localhost", "local", "internal", "home.arpa")
# Control (Cc), format/invisible (Cf), lone surrogates (Cs) and separators (Z*).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})


@dataclass(frozen=True)
class TargetUrl:
    """A webhook URL that passed the shape and name checks (not yet the address checks).

    Attributes:
        url: The original URL string.
        scheme: ``"http"`` or ``"https"``.
        host: Lowercase; the IDNA (punycode) ASCII form for international names; IPv6 without
            brackets; no trailing dot.
        port: The explicit port, or 80/443.
        address: The address when the host is an IP literal, else ``None``.
    """

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress | None


def parse_allowed_networks(text: str) -> tuple[IPNetwork, ...]:
    """Parses ``HOOKLINE_ALLOWED_NETWORKS``.

    Args:
        text: Comma-separated CIDRs; a bare address means /32 or /128. Spaces around entries
            are ignored; an empty (or blank) string means no networks.

    Returns:
        The networks, in the order given.

    Raises:
        ValueError: An entry is not a network; the one-line message names it.
    """
    if not text.strip():
        return ()
    return tuple(_parse_allowed_network(entry.strip()) for entry in text.split(","))


def _parse_allowed_network(entry: str) -> IPNetwork:
    if not entry:
        raise ValueError("allowed networks: empty entry (check for a stray comma)")
    shown = _clip(entry)
    if "%" in entry:
        raise ValueError(f"allowed networks: {shown!r} has a zone id; remove it")
    try:
        return ipaddress.ip_network(entry)
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"allowed networks: {shown!r} is not an address or CIDR") from None
    raise ValueError(f"allowed networks: {shown!r} has host bits set (did you mean {network}?)")


def parse_target_url(url: str, *, require_https: bool = False) -> TargetUrl:
    """Checks a webhook URL's shape and host name, without resolving it.

    An IP-literal host is recorded in ``.address`` but not judged here, so that the allowlist
    can apply: pass it to :func:`vet_addresses` (or use :func:`vet_url`).

    Args:
        url: The URL as the user gave it.
        require_https: Refuse ``http://`` URLs.

    Returns:
        The parsed URL.

    Raises:
        UrlNotAllowed: The URL is malformed or names a refused host; the message says why.
    """
    if len(url) > _MAX_URL_LENGTH:
        raise UrlNotAllowed(f"URL is longer than {_MAX_URL_LENGTH} characters")
    if any(_is_forbidden_character(char) for char in url):
        raise UrlNotAllowed("URL must not contain whitespace or control characters")
    if "\\" in url:
        raise UrlNotAllowed("URL must not contain backslashes")
    if "#" in url:
        raise UrlNotAllowed("URL must not contain a fragment (#)")
    scheme, rest = _split_scheme(url, require_https=require_https)
    if not rest.startswith("//"):
        raise UrlNotAllowed("URL must be absolute, like https://example.com/hook")
    authority = _AUTHORITY_END_RE.split(rest[2:], maxsplit=1)[0]
    if "@" in authority:
        raise UrlNotAllowed("URL must not contain user info")
    host_text, port_text = _split_host_port(authority)
    port = _parse_port(port_text, scheme)
    address: IPAddress | None
    if host_text.startswith("["):
        host, address = _parse_ipv6_literal(host_text)
    else:
        host, address = _parse_host_name(host_text)
    return TargetUrl(url=url, scheme=scheme, host=host, port=port, address=address)


def address_refusal(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Judges one destination address.

    Args:
        address: The address a connection would go to.
        allowed: Networks exempt from the refused-range table (not from the metadata rule).

    Returns:
        ``None`` when the address may be connected to, else the reason
        ``"destination <address> is not allowed"``.
    """
    if _is_refused(address, allowed):
        return f"destination {_clip(str(address))} is not allowed"
    return None


def vet_addresses(
    addresses: Sequence[str | IPAddress], allowed: Sequence[IPNetwork] = ()
) -> list[IPAddress]:
    """Checks that every address a host resolved to may be connected to.

    Args:
        addresses: Address strings (as a resolver returns them) or addresses.
        allowed: Networks exempt from the refused-range table.

    Returns:
        The addresses, parsed, deduplicated, in order: what the connection must use.

    Raises:
        UrlNotAllowed: The list is empty, or any one address is refused (one bad answer
            refuses the whole host: the connection could otherwise be steered to it).
    """
    if not addresses:
        raise UrlNotAllowed("destination does not resolve")
    vetted: list[IPAddress] = []
    for item in addresses:
        address = _as_address(item)
        reason = address_refusal(address, allowed)
        if reason is not None:
            raise UrlNotAllowed(reason)
        if address not in vetted:
            vetted.append(address)
    return vetted


async def vet_url(
    url: str,
    *,
    resolver: Resolver,
    allowed: Sequence[IPNetwork] = (),
    require_https: bool = False,
) -> tuple[TargetUrl, list[IPAddress]]:
    """Runs the whole guard: URL shape, host name, one lookup, every address.

    Args:
        url: The webhook URL.
        resolver: Looks the host up; not called for IP-literal hosts.
        allowed: Networks exempt from the refused-range table.
        require_https: Refuse ``http://`` URLs.

    Returns:
        The parsed URL and the vetted addresses. Connect to these addresses only; never look
        the host up again.

    Raises:
        UrlNotAllowed: The URL is refused, or its host does not resolve.
    """
    target = parse_target_url(url, require_https=require_https)
    if target.address is not None:
        return target, vet_addresses([target.address], allowed)
    not_resolving = f"{_clip(target.host)} does not resolve"
    try:
        answers = await resolver(target.host, target.port)
    except OSError as exc:
        raise UrlNotAllowed(not_resolving) from exc
    if not answers:
        raise UrlNotAllowed(not_resolving)
    return target, vet_addresses(answers, allowed)


async def system_resolver(host: str, port: int) -> list[str]:
    """Looks a host up with the operating system's resolver.

    Args:
        host: The host name.
        port: The port (some resolvers filter on it).

    Returns:
        The IPv4 and IPv6 address strings, deduplicated, in the resolver's order.

    Raises:
        OSError: The name does not resolve (``socket.gaierror``).
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = (
        str(sockaddr[0])
        for family, _, _, _, sockaddr in infos
        if family in (socket.AF_INET, socket.AF_INET6)
    )
    return list(dict.fromkeys(found))


# --- addresses ---------------------------------------------------------------------------


def _is_refused(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # A zone id makes the address unequal to its unscoped twin, which would slip it past
        # the metadata set; and only link-local addresses need one. Refuse them all.
        if address.scope_id is not None:
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _is_refused(embedded, allowed)
    if address in METADATA_ADDRESSES:
        return not _listed_alone(address, allowed)
    if any(address in network for network in allowed):
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in network for network in _REFUSED_IPV4)
    return address not in _IPV6_GLOBAL_UNICAST or any(
        address in network for network in _REFUSED_IPV6
    )


def _listed_alone(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return any(net.num_addresses == 1 and net.network_address == address for net in allowed)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NOT_EMBEDDING:
        return None
    if any(address in prefix for prefix in _IPV4_EMBEDDING_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _as_address(item: str | IPAddress) -> IPAddress:
    if not isinstance(item, str):
        return item
    try:
        return ipaddress.ip_address(item)
    except ValueError:
        raise UrlNotAllowed(f"destination {_clip(item)} is not allowed") from None


# --- URL parts ---------------------------------------------------------------------------


def _split_scheme(url: str, *, require_https: bool) -> tuple[str, str]:
    match = _SCHEME_RE.match(url)
    if match is None:
        raise UrlNotAllowed("URL must be absolute, like https://example.com/hook")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlNotAllowed("URL must use http or https")
    if require_https and scheme != "https":
        raise UrlNotAllowed("URL must use https")
    return scheme, url[match.end() :]


def _split_host_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end == -1:
            raise UrlNotAllowed(f"host {_clip(authority)} is not a valid IPv6 address")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UrlNotAllowed(f"URL has {_clip(rest)!r} after the IPv6 address")
        return host, rest[1:] if rest else None
    if authority.count(":") > 1:
        raise UrlNotAllowed(
            "IPv6 addresses in URLs must be in brackets, like http://[2001:db8::1]/"
        )
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def _parse_port(text: str | None, scheme: str) -> int:
    if text is None:
        return _DEFAULT_PORTS[scheme]
    if not _PORT_RE.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise UrlNotAllowed("URL port must be a number from 1 to 65535")
    return int(text)


def _parse_ipv6_literal(bracketed: str) -> tuple[str, IPAddress]:
    inner = bracketed[1:-1]
    if "%" in inner:
        raise UrlNotAllowed("URL must not contain an IPv6 zone id")
    try:
        address = ipaddress.IPv6Address(inner)
    except ValueError:
        raise UrlNotAllowed(f"host {_clip(bracketed)} is not a valid IPv6 address") from None
    return str(address), address


def _parse_host_name(text: str) -> tuple[str, IPAddress | None]:
    if not text:
        raise UrlNotAllowed("URL must have a host")
    shown = _clip(text)
    # IDNA first: it maps look-alikes (fullwidth letters and digits, ideographic full stops)
    # to ASCII, and every check below must see what the resolver will see.
    host = _to_ascii(text).lower()
    host = host.removesuffix(".")
    labels = host.split(".")
    if "" in labels:
        raise UrlNotAllowed(f"host {shown} has an empty label")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        return _parse_ipv4_literal(host, shown)
    if len(host) > _MAX_HOST_LENGTH or not all(_is_valid_label(label) for label in labels):
        raise UrlNotAllowed(f"host {shown} is not a valid host name")
    if any(host == domain or host.endswith("." + domain) for domain in _REFUSED_DOMAINS):
        raise UrlNotAllowed(f"host {_clip(host)} is not allowed")
    if len(labels) == 1:
        raise UrlNotAllowed(f"host {_clip(host)} is not allowed (single-label name)")
    return host, None


def _parse_ipv4_literal(host: str, shown: str) -> tuple[str, IPAddress]:
    # Only the canonical dotted quad: inet_aton() and URL parsers also read 2130706433,
    # 0x7f.1, 0177.0.0.1 and 127.1 as 127.0.0.1, and parsers disagree on the rest. The
    # round trip guards against IPv4Address leniency (before 3.9.5 it read leading zeros).
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    if address is None or str(address) != host:
        raise UrlNotAllowed(f"host {shown} is not a canonical IPv4 address (like 192.0.2.1)")
    return host, address


def _to_ascii(host: str) -> str:
    if host.isascii():
        return host
    # The name aiohttp will look up and connect to: yarl encodes with IDNA 2008 and UTS #46
    # mapping, and falls back to IDNA 2003 (Python's codec). IDNA 2003 alone would check
    # another name than the one connected to (it maps "straße" to "strasse").
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UrlNotAllowed(f"host {_clip(host)} is not a valid host name") from None


def _is_valid_label(label: str) -> bool:
    if not _LABEL_RE.fullmatch(label):
        return False
    if not label.startswith("xn--"):
        return True
    # Valid punycode under IDNA 2008 (like xn--strae-oqa, "straße") or IDNA 2003.
    try:
        idna.decode(label)
    except UnicodeError:
        pass
    else:
        return True
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def _is_forbidden_character(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _FORBIDDEN_CATEGORIES


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 3] + "..."
