"""The event catalogue: which event names exist."""

from __future__ import annotations

import re

from hookline.domain.times import Clock, utcnow
from hookline.domain.webhooks import DESCRIPTION_MAX, EVENT_NAME_MAX, EventType, has_control_chars
from hookline.errors import Conflict, NotFound, ValidationFailed
from hookline.services.access import TtlCache
from hookline.store.base import Store

_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")


class CatalogService:
    """Adds, lists and removes event types."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock
        # Every publish checks its event names: read them at most once a second. Changes made
        # here clear it at once; another process's (the CLI's) show within a second.
        self._names: TtlCache[None, frozenset[str]] = TtlCache(size=1)

    async def list_types(self) -> list[EventType]:
        """The active event types, by name."""
        return await self._store.list_event_types()

    async def active_names(self) -> frozenset[str]:
        """Names that may be subscribed to and published now (at most a second old)."""
        names = self._names.get(None)
        if names is None:
            names = frozenset(t.name for t in await self._store.list_event_types())
            self._names.put(None, names)
        return names

    async def add(self, name: str, description: str = "") -> EventType:
        """Add a type (or bring a removed one back)."""
        if len(name) > EVENT_NAME_MAX or not _EVENT_NAME.match(name):
            raise ValidationFailed.field(
                "name",
                f"must start with a letter and use letters, digits, '_', '.', ':' or '-' "
                f"(at most {EVENT_NAME_MAX} characters)",
            )
        if has_control_chars(description) or len(description) > DESCRIPTION_MAX:
            raise ValidationFailed.field(
                "description",
                f"must be at most {DESCRIPTION_MAX} characters, without control characters",
            )
        event_type = EventType(name, description, self._clock())
        try:
            added = await self._store.upsert_event_type(event_type)
        finally:
            self._names.clear()
        if not added:
            raise Conflict(f"event type {name!r} exists")
        return event_type

    async def remove(self, name: str) -> None:
        """Remove a type: existing history keeps it; new subscriptions and events may not."""
        try:
            removed = await self._store.remove_event_type(name, self._clock())
        finally:
            self._names.clear()
        if not removed:
            raise NotFound(f"no event type named {name[:100]!r}")
