"""Authorisation checks shared by every service, and the short-lived cache of the publish path."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from hookline.domain.tenants import Permission, Principal, may
from hookline.errors import PermissionDenied, WebhooksDisabled

K = TypeVar("K")
V = TypeVar("V")

# How long the publish path trusts what it read: a revoked key, a disabled tenant or an event
# type added or removed by another process takes effect within this long (docs/behaviour.md).
CACHE_SECONDS = 1.0


def require(principal: Principal, permission: Permission) -> None:
    """Raise unless the principal's tenant is enabled and its role grants ``permission``."""
    if not principal.tenant.enabled:
        raise WebhooksDisabled()
    if not may(principal.role, permission):
        raise PermissionDenied(
            f"a {principal.role.value} key may not do this (needs {permission.value})"
        )


class TtlCache(Generic[K, V]):
    """A small map whose entries are forgotten ``ttl`` seconds after they were put."""

    def __init__(
        self,
        ttl: float = CACHE_SECONDS,
        size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The value put under ``key`` less than ``ttl`` ago, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()  # crude, bounded: a cache of keys, not of callers
        self._entries[key] = (self._clock() + self._ttl, value)

    def clear(self) -> None:
        self._entries.clear()
