"""What both clients share: their settings, the retry policy, and reading an answer.

The policy, per attempt of a :class:`~hookline.client._calls.Call`:

* no connection could be made (refused, connect timeout): the request never left, so any call
  is tried again;
* the answer was lost (read timeout, reset) or is a 5xx or a 429: only a *replayable* call
  (GET, DELETE, publishing under its Idempotency-Key) is tried again;
* anything else is final: a 2xx is read, any other status raised as its typed error.

At most ``retries`` extra attempts, after ``backoff * 2**n`` seconds (+-20% jitter) or the
answer's ``Retry-After`` (capped at a minute).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from hookline import __version__
from hookline.client._calls import Call
from hookline.client.errors import ConnectionFailed, UnexpectedResponse, error_from_answer

T = TypeVar("T")

USER_AGENT = f"hookline-client/{__version__}"
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is cut to this
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_LOST = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class Core:
    """Settings and policy; the subclasses own the HTTP client and the sleeping."""

    retries: int
    backoff: float
    base_url: str

    def _configure(
        self, base_url: str, api_key: str, *, timeout: float, retries: int, backoff: float
    ) -> dict[str, Any]:
        """Check and keep the settings; the HTTP client's (the only place the key is kept)."""
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        if backoff < 0:
            raise ValueError("backoff must be 0 or more")
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an absolute http:// or https:// URL")
        self.retries = retries
        self.backoff = backoff
        port = f":{url.port}" if url.port else ""
        self.base_url = f"{url.scheme}://{url.host}{port}{url.path.rstrip('/')}"  # no userinfo
        return {
            "base_url": url,
            "headers": {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
            "timeout": httpx.Timeout(timeout),
            "follow_redirects": False,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key='***')"

    def _delay_after_error(self, call: Call[Any], exc: httpx.TransportError, attempt: int) -> float:
        """Seconds to wait before trying ``call`` again, or ConnectionFailed."""
        unsent = isinstance(exc, _UNSENT)
        if attempt < self.retries and (unsent or (call.replayable and isinstance(exc, _LOST))):
            return self._backoff(attempt)
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_failed"
        reason = str(exc) or type(exc).__name__
        tries = f" (after {attempt + 1} attempts)" if attempt else ""
        message = f"{call.method} {self.base_url}{call.path}: {reason}{tries}"
        raise ConnectionFailed(code, message) from exc

    def _delay_after_answer(
        self, call: Call[Any], response: httpx.Response, attempt: int
    ) -> float | None:
        """Seconds to wait before trying ``call`` again, or None if this answer is final."""
        status = response.status_code
        if (status == 429 or status >= 500) and call.replayable and attempt < self.retries:
            after = retry_after(response)
            return self._backoff(attempt) if after is None else after
        return None

    def _finish(self, call: Call[T], response: httpx.Response, attempt: int) -> T:
        """The call's result from a final answer, or its typed error."""
        status = response.status_code
        if 200 <= status < 300 or (status == 404 and call.gone_is_done and attempt > 0):
            try:
                return call.read(response)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                raise UnexpectedResponse(
                    "unexpected_response",
                    f"{call.method} {call.path}: the answer is not what the API documents "
                    f"({type(exc).__name__}: {exc})",
                    status,
                ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        raise error_from_answer(status, body, retry_after(response))

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff * 2**attempt * random.uniform(0.8, 1.2))


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), capped; None if absent."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
