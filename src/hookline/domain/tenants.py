"""Tenants (accounts), API keys and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DEFAULT_TENANT = "default"


class Role(StrEnum):
    """An API key's role. Each role may do everything the roles below it may."""

    VIEWER = "viewer"
    PUBLISHER = "publisher"
    ADMIN = "admin"


class Permission(StrEnum):
    """One kind of action, checked by the API, the UI and the CLI alike."""

    READ = "read"  # webhooks without secrets, events, deliveries, logs
    PUBLISH = "publish"
    MANAGE = "manage"  # create/update/delete/test webhooks, resend, read secrets


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.PUBLISHER: frozenset({Permission.PUBLISH}),
    Role.ADMIN: frozenset(Permission),
}


def may(role: Role, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission``.

    The contract's table gives the publisher only "publish events"; it is not a reader.
    """
    return permission in _GRANTS[role]


@dataclass(frozen=True)
class Tenant:
    """An account. ``enabled=False`` turns the webhook feature off for it."""

    id: str
    name: str
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: never the key itself, only its hash and a display prefix."""

    id: str
    tenant_id: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """True once revoked; a revoked key authenticates nothing."""
        return self.revoked_at is not None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an authenticated, unrevoked key and its tenant."""

    tenant: Tenant
    key: ApiKey

    @property
    def role(self) -> Role:
        """The key's role."""
        return self.key.role
