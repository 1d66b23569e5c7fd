"""Tenants and API keys: creation, listing, revocation, authentication, bootstrap."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from hookline.domain.tenants import DEFAULT_TENANT, ApiKey, Principal, Role, Tenant
from hookline.domain.times import Clock, utcnow
from hookline.domain.webhooks import has_control_chars
from hookline.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from hookline.ids import IdPrefix, new_id
from hookline.store.base import Store

KEY_PREFIX = "hk_"
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_MAX_BEARER = 512


def hash_key(plaintext: str) -> str:
    """How a key is stored. Keys are high-entropy, so a plain SHA-256 suffices."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: the only moment its plaintext exists."""

    key: ApiKey
    plaintext: str


class AccountService:
    """Tenants and keys."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    # -- tenants -----------------------------------------------------------------------------
    async def create_tenant(self, name: str) -> Tenant:
        """A new, enabled tenant. Names: letters, digits, ``.``, ``_``, ``-``; 1..100 chars."""
        if not _TENANT_NAME.match(name):
            raise ValidationFailed.field(
                "name",
                "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        if await self._store.get_tenant_by_name(name) is not None:
            raise Conflict(f"tenant {name!r} exists")
        tenant = Tenant(new_id(IdPrefix.TENANT), name, True, self._clock())
        await self._store.insert_tenant(tenant)
        return tenant

    async def list_tenants(self) -> list[Tenant]:
        """Every tenant, oldest first."""
        return await self._store.list_tenants()

    async def tenant_named(self, name: str) -> Tenant:
        """The tenant with this name, or NotFound."""
        tenant = await self._store.get_tenant_by_name(name)
        if tenant is None:
            raise NotFound(f"no tenant named {name[:100]!r}")
        return tenant

    async def set_tenant_enabled(self, name: str, enabled: bool) -> Tenant:
        """Turn the webhook feature on or off for a tenant."""
        tenant = await self.tenant_named(name)
        await self._store.set_tenant_enabled(tenant.id, enabled)
        return Tenant(tenant.id, tenant.name, enabled, tenant.created_at)

    # -- keys --------------------------------------------------------------------------------
    async def create_key(self, tenant_name: str, role: Role) -> IssuedKey:
        """A new random key for a tenant. The plaintext is returned once and never stored."""
        tenant = await self.tenant_named(tenant_name)
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        return await self._issue(tenant, role, plaintext)

    async def _issue(self, tenant: Tenant, role: Role, plaintext: str) -> IssuedKey:
        key = ApiKey(
            id=new_id(IdPrefix.KEY),
            tenant_id=tenant.id,
            role=role,
            prefix=plaintext[:7],
            created_at=self._clock(),
        )
        await self._store.insert_api_key(key, hash_key(plaintext))
        return IssuedKey(key, plaintext)

    async def list_keys(self, tenant_name: str | None = None) -> list[ApiKey]:
        """Keys of one tenant, or of all; revoked ones included (marked)."""
        tenant_id = (await self.tenant_named(tenant_name)).id if tenant_name else None
        return await self._store.list_api_keys(tenant_id)

    async def revoke_key(self, key_id: str) -> None:
        """Revoke a key at once; NotFound if there is no such live key."""
        if not await self._store.revoke_api_key(key_id, self._clock()):
            raise NotFound(f"no active key with id {key_id[:100]!r}")

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization: Bearer <key>`` header value."""
        if not authorization:
            raise Unauthenticated()
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_BEARER:
            raise Unauthenticated()
        if has_control_chars(token):
            raise Unauthenticated()
        found = await self._store.find_api_key(hash_key(token))
        if found is None:
            raise Unauthenticated("unknown or revoked API key")
        key, tenant = found
        return Principal(tenant, key)

    async def authenticate_hash(self, key_hash: str) -> Principal:
        """The principal behind a key known only by its hash (the web UI's session holds the
        hash, never the key). Checked against the store on every call, so a revoked key stops
        working at once."""
        if len(key_hash) != 64 or any(c not in "0123456789abcdef" for c in key_hash):
            raise Unauthenticated()
        found = await self._store.find_api_key(key_hash)
        if found is None:
            raise Unauthenticated("unknown or revoked API key")
        key, tenant = found
        return Principal(tenant, key)

    async def operator(self, tenant_name: str) -> Principal:
        """The principal of someone at the machine's shell acting for a tenant (``hookline
        emit``): an admin of that tenant who needs no API key, because shell access to the
        database's settings is already full access."""
        tenant = await self.tenant_named(tenant_name)
        key = ApiKey(
            id="key_shell",
            tenant_id=tenant.id,
            role=Role.ADMIN,
            prefix="shell",
            created_at=self._clock(),
        )
        return Principal(tenant, key)

    # -- bootstrap ---------------------------------------------------------------------------
    async def default_tenant(self) -> Tenant:
        """Tenant ``default``, created if missing."""
        tenant = await self._store.get_tenant_by_name(DEFAULT_TENANT)
        if tenant is not None:
            return tenant
        try:
            return await self.create_tenant(DEFAULT_TENANT)
        except Conflict:  # another process created it at the same moment
            return await self.tenant_named(DEFAULT_TENANT)

    async def ensure_admin_key(self, plaintext: str) -> bool:
        """Make sure an admin key with exactly this value exists for tenant ``default``.

        Returns True if it was created now. A revoked key of that value is not revived: the
        operator revoked it on purpose, and it keeps failing until the setting changes.
        """
        found = await self._store.find_api_key(hash_key(plaintext))
        if found is not None:
            return False
        tenant = await self.default_tenant()
        try:
            await self._issue(tenant, Role.ADMIN, plaintext)
        except Conflict:  # revoked key with that value, or created concurrently
            return False
        return True

    async def first_start_key(self) -> IssuedKey | None:
        """On a store with no key at all, tenant ``default`` and one admin key; else None."""
        if await self._store.count_api_keys() > 0:
            return None
        tenant = await self.default_tenant()
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        return await self._issue(tenant, Role.ADMIN, plaintext)
