"""Authorisation checks shared by every service."""

from __future__ import annotations

from hookline.domain.tenants import Permission, Principal, may
from hookline.errors import PermissionDenied, WebhooksDisabled


def require(principal: Principal, permission: Permission) -> None:
    """Raise unless the principal's tenant is enabled and its role grants ``permission``."""
    if not principal.tenant.enabled:
        raise WebhooksDisabled()
    if not may(principal.role, permission):
        raise PermissionDenied(
            f"a {principal.role.value} key may not do this (needs {permission.value})"
        )
