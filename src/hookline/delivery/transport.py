"""The outbound HTTP transport: resolve once, vet every address, connect to the vetted one.

aiohttp asks its resolver for the addresses of a URL's host and connects to exactly what the
resolver returns. :class:`VettingResolver` puts the SSRF policy there: it calls the wrapped
:data:`~hookline.delivery.ssrf.Resolver` once, judges EVERY answer with
:func:`~hookline.delivery.ssrf.vet_addresses`, and hands aiohttp only the vetted addresses, so
the address that was checked is the address connected to and no second lookup can answer
differently (DNS rebinding). TLS still checks the certificate against the URL's host name:
aiohttp uses the URL host, not the address, for SNI and verification.

aiohttp does not call the resolver for IP-literal hosts (``http://10.0.0.5/``): whoever sends
must vet those itself before the request (:class:`~hookline.delivery.sender.Sender` does).

The session from :func:`make_session` ignores proxy environment variables and ``.netrc``
(``trust_env=False``), keeps no cookies, never decompresses and sends no default headers.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from hookline.delivery import ssrf
from hookline.errors import UrlNotAllowed

# Answers of the vetting resolver are cached this long (seconds) by the connector. They were
# vetted against the same allowlist as a fresh answer would be, so the cache cannot let a
# refused address through; it only bounds how long a changed DNS record goes unnoticed. In
# exchange, concurrent new connections to one host share one lookup (aiohttp throttles
# lookups only when its cache is on), which matters when hundreds of deliveries to one
# endpoint start at once.
DNS_CACHE_SECONDS = 10

# Aborting TLS transports that never finish closing is needed only before CPython 3.12.8 /
# 3.13.1 (https://github.com/python/cpython/pull/118960); aiohttp warns if asked later.
_NEEDS_CLEANUP_CLOSED = sys.version_info < (3, 12, 8) or (
    (3, 13, 0) <= sys.version_info < (3, 13, 1)
)

_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class DestinationRefused(OSError):
    """The host resolved to an address the SSRF policy refuses.

    An :class:`OSError` so that aiohttp treats it as a failed lookup (it wraps it in
    :class:`aiohttp.ClientConnectorDNSError`) and never connects anywhere.

    Attributes:
        reason: ``"destination <address> is not allowed"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class VettingResolver(AbstractResolver):
    """An aiohttp resolver that returns only addresses the SSRF policy allows.

    Args:
        resolver: Looks host names up (``ssrf.system_resolver`` in production).
        allowed: Networks exempt from the refused-range table.
    """

    def __init__(self, resolver: ssrf.Resolver, allowed: Sequence[ssrf.IPNetwork]) -> None:
        self._resolver = resolver
        self._allowed = tuple(allowed)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Looks ``host`` up once and vets every answer.

        Returns:
            One result per vetted address (of ``family`` unless it is ``AF_UNSPEC``).

        Raises:
            DestinationRefused: Any one answer is refused (the whole host is then refused).
            OSError: The name does not resolve (``"<host> does not resolve"``).
        """
        not_resolving = f"{host} does not resolve"
        try:
            answers = await self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise OSError(not_resolving) from exc
        if not answers:
            raise OSError(not_resolving)
        try:
            vetted = ssrf.vet_addresses(answers, self._allowed)
        except UrlNotAllowed as exc:
            raise DestinationRefused(exc.message) from None
        results = [
            _result(host, address, port)
            for address in vetted
            if family == socket.AF_UNSPEC or _family(address) == family
        ]
        if not results:
            raise OSError(not_resolving)
        return results

    async def close(self) -> None:
        """Nothing to release."""


def _family(address: ssrf.IPAddress) -> socket.AddressFamily:
    return socket.AF_INET if isinstance(address, ipaddress.IPv4Address) else socket.AF_INET6


def _result(host: str, address: ssrf.IPAddress, port: int) -> ResolveResult:
    return ResolveResult(
        hostname=host,
        host=str(address),
        port=port,
        family=_family(address),
        proto=0,
        flags=_NUMERIC_FLAGS,
    )


def make_session(
    *, resolver: ssrf.Resolver, allowed: Sequence[ssrf.IPNetwork], limit: int
) -> aiohttp.ClientSession:
    """A client session whose every connection goes to a vetted address.

    Must be called with an event loop running; close it with ``await session.close()``.

    Args:
        resolver: Looks host names up; every answer is vetted.
        allowed: Networks exempt from the SSRF refused-range table.
        limit: Connections open at once, over all hosts (0 = unlimited). Per-endpoint fairness
            is the workers' job, so there is no per-host limit here.
    """
    connector = aiohttp.TCPConnector(
        resolver=VettingResolver(resolver, allowed),
        limit=limit,
        limit_per_host=0,
        use_dns_cache=True,
        ttl_dns_cache=DNS_CACHE_SECONDS,
        enable_cleanup_closed=_NEEDS_CLEANUP_CLOSED,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers=None,
    )
