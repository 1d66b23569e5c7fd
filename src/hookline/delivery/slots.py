"""Who may send now: the global cap, per-endpoint caps, and a waiting line per endpoint.

Isolation rules (the contract: a slow or dead endpoint must not delay the others):

* at most ``concurrency`` attempts in flight, and at most ``per_endpoint`` to one endpoint
  (scheme, host and port);
* an endpoint whose latest attempt *timed out* is "stalled": it gets only ``stalled_cap``
  slots until an attempt to it ends any other way, and all stalled endpoints together hold at
  most half of the global slots. Without this, ``concurrency / per_endpoint`` hanging
  endpoints (4 by default) would hold every slot for a whole timeout;
* a claimed delivery whose endpoint is at its cap waits here, in memory and under its lease,
  for a slot of that endpoint (no write to give it back and claim it again); it is started
  only while its lease has at least ``lease_margin`` seconds left, else it is dropped and the
  lease expiry makes it claimable again (never lost, never sent twice at once);
* an endpoint whose waiting line is full (four rounds of its slots; one when stalled) is
  "blocked": the claim loop asks the store to skip its webhooks until the line is half empty,
  so claims bring deliveries that can be sent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from hookline.domain.deliveries import ClaimedDelivery

_Waiting = tuple[ClaimedDelivery, datetime]  # a delivery and the end of its lease
START, WAIT, GIVE_BACK = "start", "wait", "give back"
_KEYS_MAX = 10_000


class Admitted(NamedTuple):
    """What :meth:`Slots.admit` decided for one delivery, and its endpoint."""

    decision: str
    endpoint: str


@dataclass
class _Endpoint:
    in_flight: int = 0
    stalled: bool = False
    blocked: bool = False
    waiting: deque[_Waiting] = field(default_factory=deque)
    webhooks: set[str] = field(default_factory=set)


class Slots:
    """The engine's slot accounting (single-threaded: the event loop's)."""

    def __init__(
        self,
        concurrency: int,
        per_endpoint: int,
        lease_margin: float,
        overshoot: int = 100,
        stalled_cap: int = 0,
    ) -> None:
        self.concurrency = concurrency
        self.overshoot = overshoot
        self.per_endpoint = per_endpoint
        self.stalled_cap = stalled_cap or max(1, per_endpoint // 8)
        self.stalled_total_cap = max(1, concurrency // 2)
        self._margin = timedelta(seconds=lease_margin)
        self._endpoints: dict[str, _Endpoint] = {}
        self.in_flight = 0
        self.waiting = 0
        self._stalled_in_flight = 0
        self._unblocked = False
        self._keys: dict[str, str] = {}  # url -> endpoint_of(url): webhooks are few

    # -- what the claim loop asks ------------------------------------------------------------
    def credit(self) -> int:
        """How many more deliveries may be claimed now: free slots. Waiting deliveries do not
        count: they wait for their own endpoint's slots, and must not stop the claims that feed
        the other endpoints (their lines are bounded, and skipped by claims when full)."""
        return self.concurrency - self.in_flight

    def skipped_webhooks(self) -> list[str]:
        """Webhooks the next claim should leave alone: their endpoint's line is full."""
        return [w for e in self._endpoints.values() if e.blocked for w in e.webhooks]

    # -- admission -----------------------------------------------------------------------------
    def admit(self, delivery: ClaimedDelivery, lease_until: datetime, now: datetime) -> Admitted:
        """Take one claimed delivery: START it now on its endpoint, let it WAIT, or GIVE_BACK
        (its endpoint's line is long past full: a store that cannot skip webhooks keeps handing
        them out; or its lease is too short to wait)."""
        key = self._keys.get(delivery.url)
        if key is None:
            if len(self._keys) >= _KEYS_MAX:
                self._keys.clear()
            key = self._keys[delivery.url] = endpoint_of(delivery.url)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = _Endpoint()
        endpoint.webhooks.add(delivery.webhook_id)
        if not endpoint.waiting and self._may_start(endpoint):
            self._take(endpoint)
            return Admitted(START, key)
        line = self._line(endpoint)
        # One claim's worth beyond a full line is kept: the claim that filled the line could
        # not know it would, and giving its rows back would cost as much as the claim.
        if (
            len(endpoint.waiting) >= line + self.overshoot
            or self.waiting >= 4 * self.concurrency
            or lease_until - now < self._margin
        ):
            return Admitted(GIVE_BACK, key)
        endpoint.waiting.append((delivery, lease_until))
        self.waiting += 1
        if len(endpoint.waiting) >= line:
            endpoint.blocked = True
        return Admitted(WAIT, key)

    def release(self, key: str, *, timed_out: bool) -> None:
        """An attempt to ``key`` ended (timed out or not): free its slot."""
        endpoint = self._endpoints[key]
        endpoint.in_flight -= 1
        self.in_flight -= 1
        if endpoint.stalled:
            self._stalled_in_flight -= 1
        if timed_out != endpoint.stalled:
            # Count the slots still held under the endpoint's new state.
            delta = endpoint.in_flight if timed_out else -endpoint.in_flight
            self._stalled_in_flight += delta
            endpoint.stalled = timed_out

    def ready(self, now: datetime, key: str | None = None) -> list[tuple[ClaimedDelivery, str]]:
        """Waiting deliveries that may start now, of endpoint ``key`` or of all; each has taken
        its slot. Drops those whose lease is too short; forgets idle endpoints."""
        ready: list[tuple[ClaimedDelivery, str]] = []
        for name in [key] if key is not None else list(self._endpoints):
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                continue
            while endpoint.waiting and self._may_start(endpoint):
                delivery, lease_until = endpoint.waiting.popleft()
                self.waiting -= 1
                if lease_until - now >= self._margin:
                    self._take(endpoint)
                    ready.append((delivery, name))
            self._drop_expired(endpoint, now)
            if endpoint.blocked and len(endpoint.waiting) <= self._line(endpoint) // 2:
                endpoint.blocked = False
                self._unblocked = True
            if not endpoint.in_flight and not endpoint.waiting:
                del self._endpoints[name]
        return ready

    def unblocked(self) -> bool:
        """Whether an endpoint was unblocked since the last call (its webhooks may be claimed
        again)."""
        unblocked, self._unblocked = self._unblocked, False
        return unblocked

    def drain_waiting(self) -> list[ClaimedDelivery]:
        """Every waiting delivery, removed (at shutdown, to give them back)."""
        out = [d for e in self._endpoints.values() for d, _ in e.waiting]
        for endpoint in self._endpoints.values():
            endpoint.waiting.clear()
            endpoint.blocked = False
        self.waiting = 0
        return out

    def is_stalled(self, delivery_url: str) -> bool:
        """Whether the endpoint of this URL is stalled (for tests and metrics)."""
        endpoint = self._endpoints.get(endpoint_of(delivery_url))
        return endpoint is not None and endpoint.stalled

    # -- internals ------------------------------------------------------------------------------
    def _cap(self, endpoint: _Endpoint) -> int:
        return self.stalled_cap if endpoint.stalled else self.per_endpoint

    def _line(self, endpoint: _Endpoint) -> int:
        # A healthy endpoint's line holds a few rounds of its slots, so that it never runs dry
        # while the next claim waits for the store; a stalled one's, one round.
        return self.stalled_cap if endpoint.stalled else 4 * self.per_endpoint

    def _may_start(self, endpoint: _Endpoint) -> bool:
        if self.in_flight >= self.concurrency or endpoint.in_flight >= self._cap(endpoint):
            return False
        return not endpoint.stalled or self._stalled_in_flight < self.stalled_total_cap

    def _take(self, endpoint: _Endpoint) -> None:
        endpoint.in_flight += 1
        self.in_flight += 1
        if endpoint.stalled:
            self._stalled_in_flight += 1

    def _drop_expired(self, endpoint: _Endpoint, now: datetime) -> None:
        # Leases in one line were taken in claim order, so the oldest are at the front.
        while endpoint.waiting and endpoint.waiting[0][1] - now < self._margin:
            endpoint.waiting.popleft()
            self.waiting -= 1


def endpoint_of(url: str) -> str:
    """What the per-endpoint cap counts by: scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
