"""Webhooks, the event catalogue, and the limits on their fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from hookline.errors import FieldError

NAME_MAX = 200
URL_MAX = 2048
SECRET_MIN = 8
SECRET_MAX = 256
CLIENT_CUID_MAX = 200
CLIENT_CUIDS_MAX = 1000
EVENT_NAME_MAX = 100
DESCRIPTION_MAX = 1000


@dataclass(frozen=True)
class EventType:
    """An entry of the event catalogue. A removed type stays in old history only."""

    name: str
    description: str
    created_at: datetime
    removed_at: datetime | None = None


@dataclass(frozen=True)
class Webhook:
    """A subscription: where to POST which events of which clients.

    ``secret_ciphertext`` is the encrypted signing secret (``None`` = unsigned); only the
    webhook service can open it.
    """

    id: str
    tenant_id: str
    name: str
    url: str
    client_cuids: tuple[str, ...]
    events: tuple[str, ...]
    secret_ciphertext: str | None
    ssl_verification: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @property
    def has_secret(self) -> bool:
        """Whether deliveries are signed."""
        return self.secret_ciphertext is not None

    def wants(self, event: str, client_cuid: str | None) -> bool:
        """The fan-out rule (contract section 4) for one webhook."""
        if not self.enabled or event not in self.events:
            return False
        return not self.client_cuids or client_cuid in self.client_cuids


@dataclass(frozen=True)
class WebhookDraft:
    """What a new webhook is made from (already shaped; not yet validated)."""

    name: str
    url: str
    events: tuple[str, ...]
    client_cuids: tuple[str, ...] = ()
    secret: str | None = None
    ssl_verification: bool = True
    enabled: bool = True


@dataclass(frozen=True)
class WebhookChanges:
    """A partial update. ``None`` means "leave as is", except for the secret: with
    ``secret_given`` a ``None`` secret removes it (the webhook becomes unsigned)."""

    name: str | None = None
    url: str | None = None
    events: tuple[str, ...] | None = None
    client_cuids: tuple[str, ...] | None = None
    secret: str | None = None
    secret_given: bool = False
    ssl_verification: bool | None = None
    enabled: bool | None = None


_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_chars(value: str) -> bool:
    """NUL and every other C0/C1 control character (and DEL) are refused in every string."""
    return _CONTROL_CHARS.search(value) is not None


def text_problem(value: str, *, min_len: int, max_len: int) -> str | None:
    """Why a text value is refused, or None."""
    if has_control_chars(value):
        return "must not contain control characters"
    if len(value) < min_len:
        return "must not be empty" if min_len == 1 else f"must be at least {min_len} characters"
    if len(value) > max_len:
        return f"must be at most {max_len} characters"
    return None


def check_fields(
    *,
    name: str | None = None,
    url: str | None = None,
    events: tuple[str, ...] | None = None,
    client_cuids: tuple[str, ...] | None = None,
    secret: str | None = None,
) -> list[FieldError]:
    """The webhook field rules that need no I/O (contract section 3 and 7).

    Only the fields given are checked; event names are checked against the catalogue, and
    the URL against the SSRF policy, by the service.
    """
    errors: list[FieldError] = []
    if name is not None and (why := text_problem(name, min_len=1, max_len=NAME_MAX)):
        errors.append(FieldError("name", why))
    if url is not None and (why := text_problem(url, min_len=1, max_len=URL_MAX)):
        errors.append(FieldError("url", why))
    if events is not None:
        errors.extend(_list_problems("events", events, EVENT_NAME_MAX, min_items=1))
    if client_cuids is not None:
        errors.extend(_list_problems("clientCuids", client_cuids, CLIENT_CUID_MAX, min_items=0))
    if secret is not None and (why := text_problem(secret, min_len=SECRET_MIN, max_len=SECRET_MAX)):
        errors.append(FieldError("secret", why))
    return errors


def _list_problems(
    field: str, values: tuple[str, ...], max_len: int, *, min_items: int
) -> list[FieldError]:
    if len(values) < min_items:
        return [FieldError(field, "must contain at least one item")]
    if len(values) > CLIENT_CUIDS_MAX:
        return [FieldError(field, f"must contain at most {CLIENT_CUIDS_MAX} items")]
    errors = [
        FieldError(f"{field}[{i}]", why)
        for i, value in enumerate(values)
        if (why := text_problem(value, min_len=1, max_len=max_len))
    ]
    seen: set[str] = set()
    for value in values:
        if value in seen:
            errors.append(FieldError(field, f"duplicate item {value[:60]!r}"))
            break
        seen.add(value)
    return errors
