"""One delivery attempt: POST the body, return an :class:`AttemptResult`; never raise on I/O.

The SSRF guard runs twice per attempt: :meth:`Sender.send` checks the URL's shape and judges
IP-literal hosts itself (aiohttp never resolves those), and the session's
:class:`~hookline.delivery.transport.VettingResolver` vets every address a host name resolves
to, at the moment the connection is made. A refused destination is a *final* failure (never
retried); a name that does not resolve is an ordinary failure (retried).

What counts as success is narrow: a 2xx status within the timeout. Redirects are not followed,
the response is never decompressed and at most :data:`MAX_RESPONSE_BYTES` of it are read.
"""

from __future__ import annotations

import codecs
import errno
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import field

import aiohttp

from hookline import signing
from hookline.delivery import ssrf
from hookline.delivery.transport import DestinationRefused
from hookline.domain.values import value_object
from hookline.errors import UrlNotAllowed

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
ERROR_PREFIX = "Failed to call webhook: "
_MAX_LOCATION = 200
_VETTED_MAX = 10_000
_STANDARD_NAMES = frozenset({"content-type", "user-agent", "accept-encoding"})

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


@value_object
class Attempt:
    """What to send: the URL, the exact body bytes and the per-delivery headers."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    ssl_verification: bool = True


@value_object
class AttemptResult:
    """How one attempt ended.

    Attributes:
        success: The receiver answered 2xx within the timeout.
        status_code: The HTTP status, or ``None`` when no response arrived.
        response_headers: The response's headers (repeated names joined with ``", "``).
        response_body: The first 64 KiB of the response, decoded as UTF-8 (bad bytes replaced).
        duration_ms: Wall time of the whole attempt.
        error: ``None`` on success, else ``"Failed to call webhook: <reason>"``.
        retry_after: The raw ``Retry-After`` header, if any.
        final: Do not retry (only for a refused destination; ``410`` is the retry policy's).
        refused: The SSRF policy refused the destination.
        timed_out: No answer within the timeout (the engine gives such endpoints fewer slots).
    """

    success: bool
    status_code: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    duration_ms: int = 0
    error: str | None = None
    retry_after: str | None = None
    final: bool = False
    refused: bool = False
    timed_out: bool = False


def delivery_headers(
    *, event: str, delivery_id: str, attempt: int, webhook_id: str, secret: str | None, body: bytes
) -> dict[str, str]:
    """The ``X-Hookline-*`` headers of one attempt, plus the signature when there is a secret."""
    headers = {
        "X-Hookline-Event": event,
        "X-Hookline-Delivery": delivery_id,
        "X-Hookline-Attempt": str(attempt),
        "X-Hookline-Webhook": webhook_id,
    }
    if secret is not None:
        headers[signing.SIGNATURE_HEADER] = signing.sign(secret, body)
    return headers


class Sender:
    """Makes delivery attempts over one shared session.

    Args:
        session: From :func:`~hookline.delivery.transport.make_session` (its resolver vets
            host names); the sender owns it and closes it in :meth:`close`.
        timeout: Seconds for the whole attempt: connect, send, and read the response.
        allowed: Networks exempt from the SSRF table (the same as the session's).
        user_agent: The ``User-Agent`` header, like ``Hookline/0.1.0``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        allowed: Sequence[ssrf.IPNetwork],
        user_agent: str,
    ) -> None:
        self._session = session
        self._timeout = float(timeout)
        self._client_timeout = aiohttp.ClientTimeout(total=self._timeout)
        self._allowed = tuple(allowed)
        self._user_agent = user_agent
        self._vetted: dict[str, tuple[str, str | None]] = {}
        self._standard_headers = {
            "Content-Type": "application/json",
            "User-Agent": user_agent,
            "Accept-Encoding": "identity",
        }

    def request_headers(self, attempt: Attempt) -> dict[str, str]:
        """The headers :meth:`send` sends (besides Host, Content-Length and Accept).

        The attempt's headers come last and replace a standard one of the same name
        (case-insensitively).
        """
        standard = self._standard_headers
        if _STANDARD_NAMES.isdisjoint(map(str.lower, attempt.headers)):
            return {**standard, **attempt.headers}  # the usual case: only X-Hookline-* headers
        headers = dict(standard)
        names = {name.lower(): name for name in headers}
        for name, value in attempt.headers.items():
            previous = names.pop(name.lower(), None)
            if previous is not None:
                del headers[previous]
            headers[name] = value
            names[name.lower()] = name
        return headers

    async def send(self, attempt: Attempt, headers: dict[str, str] | None = None) -> AttemptResult:
        """Makes one attempt. Never raises; only cancellation passes through.

        ``headers``: what :meth:`request_headers` answers for ``attempt``, when the caller
        has it already (to log them); computed here otherwise.
        """
        started = time.perf_counter()
        try:
            if headers is None:
                headers = self.request_headers(attempt)
            return await self._send(attempt, headers, started)
        except Exception as exc:
            logger.exception("unexpected error delivering to %s", attempt.url)
            return _failure(started, f"unexpected error: {type(exc).__name__}")

    async def close(self) -> None:
        """Closes the session and its connections."""
        await self._session.close()

    def _vet(self, url: str) -> tuple[str, str | None]:
        """The URL's host and why it is refused before any connection (None: it is not).

        Pure for a given URL and this sender's allowlist, so remembered per URL (webhooks are
        few, attempts many); host names are still vetted at every connection by the resolver.
        """
        known = self._vetted.get(url)
        if known is not None:
            return known
        try:
            target = ssrf.parse_target_url(url)
        except UrlNotAllowed as exc:
            verdict: tuple[str, str | None] = ("", exc.message)
        else:
            reason = None
            if target.address is not None:
                reason = ssrf.address_refusal(target.address, self._allowed)
            verdict = (target.host, reason)
        if len(self._vetted) >= _VETTED_MAX:
            self._vetted.clear()
        self._vetted[url] = verdict
        return verdict

    async def _send(
        self, attempt: Attempt, headers: dict[str, str], started: float
    ) -> AttemptResult:
        host, refusal = self._vet(attempt.url)
        if refusal is not None:
            return _failure(started, refusal, refused=True)
        try:
            async with self._session.post(
                attempt.url,
                data=attempt.body,
                headers=headers,
                allow_redirects=False,
                timeout=self._client_timeout,
                ssl=attempt.ssl_verification,
            ) as response:
                body = await _read_limited(response.content)
                return _response_result(response, body, started)
        except TimeoutError:
            return _failure(started, f"timed out after {self._timeout}s", timed_out=True)
        except aiohttp.ClientConnectorDNSError as exc:
            refused = _destination_refused(exc)
            if refused is not None:
                return _failure(started, refused.reason, refused=True)
            return _failure(started, f"{host} does not resolve")
        except aiohttp.ClientSSLError as exc:
            return _failure(started, f"TLS error: {_tls_reason(exc.os_error)}")
        except aiohttp.ClientConnectorError as exc:
            return _failure(started, _os_reason(exc.os_error))
        except ssl.SSLError as exc:
            return _failure(started, f"TLS error: {_tls_reason(exc)}")
        except aiohttp.ServerDisconnectedError:
            return _failure(started, "server disconnected without a response")
        except aiohttp.ClientPayloadError:
            return _failure(started, "response body is malformed or incomplete")
        except aiohttp.ClientResponseError as exc:
            return _failure(started, f"invalid HTTP response: {exc.message}")
        except aiohttp.ClientError as exc:
            return _failure(started, f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return _failure(started, _os_reason(exc))


async def _read_limited(stream: aiohttp.StreamReader) -> bytes:
    chunks: list[bytes] = []
    remaining = MAX_RESPONSE_BYTES
    while remaining > 0 and not stream.at_eof():  # (no last read just to learn of the end)
        chunk = await stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _decode(body: bytes) -> str:
    if len(body) < MAX_RESPONSE_BYTES:
        return body.decode("utf-8", errors="replace")
    # Cut off at the limit: drop a character split by the cut rather than show U+FFFD.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(body, final=False)


def _response_result(
    response: aiohttp.ClientResponse, body: bytes, started: float
) -> AttemptResult:
    status = response.status
    headers: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, value in response.headers.items():
        key = names.setdefault(name.lower(), str(name))
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    success = 200 <= status < 300
    error = None
    if not success:
        error = ERROR_PREFIX + _status_reason(status, response.headers.get("Location"))
    return AttemptResult(
        success=success,
        status_code=status,
        response_headers=headers,
        response_body=_decode(body),
        duration_ms=_elapsed_ms(started),
        error=error,
        retry_after=response.headers.get("Retry-After"),
    )


def _status_reason(status: int, location: str | None) -> str:
    if 300 <= status < 400:
        if location:
            shown = location if len(location) <= _MAX_LOCATION else location[:197] + "..."
            return f"redirect not followed (HTTP {status} to {shown})"
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


def _destination_refused(exc: aiohttp.ClientConnectorError) -> DestinationRefused | None:
    for candidate in (exc.os_error, exc.__cause__):
        if isinstance(candidate, DestinationRefused):
            return candidate
    return None


def _os_reason(exc: OSError) -> str:
    known = _ERRNO_REASONS.get(exc.errno) if exc.errno is not None else None
    if known is not None:
        return known
    return f"connection failed: {exc.strerror or str(exc) or type(exc).__name__}"


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _failure(
    started: float, reason: str, *, refused: bool = False, timed_out: bool = False
) -> AttemptResult:
    return AttemptResult(
        success=False,
        duration_ms=_elapsed_ms(started),
        error=ERROR_PREFIX + reason,
        final=refused,
        refused=refused,
        timed_out=timed_out,
    )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
