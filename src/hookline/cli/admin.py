"""Administration from the shell: ``tenant``, ``key`` and ``event-type``.

Each command opens the store named by ``--database-url`` / ``HOOKLINE_DATABASE_URL``, migrates
it (so it works on a brand-new database), does one thing through the same services the API
uses, and closes it. None of them needs ``HOOKLINE_SECRET_KEY``: they touch no webhook secret.
With SQLite they may run while ``hookline serve`` owns the file (WAL lets them in).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from hookline.cli import output
from hookline.cli.options import DatabaseUrl, start
from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.services.accounts import AccountService
from hookline.services.catalog import CatalogService
from hookline.store import Store, open_store

T = TypeVar("T")

TenantName = Annotated[str, typer.Argument(metavar="NAME", help="The tenant's unique name.")]
EventName = Annotated[str, typer.Argument(metavar="NAME", help="The event type's name.")]


def with_store(database_url: str | None, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on the opened, migrated store of these settings; close it afterwards."""
    settings = start({"database_url": database_url})
    return asyncio.run(_session(settings.database_url, action))


async def _session(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    store = open_store(url)
    await store.open()
    try:
        await store.migrate()
        return await action(store)
    finally:
        await store.close()


# -- tenants ---------------------------------------------------------------------------------
def tenant_create(name: TenantName, database_url: DatabaseUrl = None) -> None:
    """Create a tenant (enabled). Names: letters, digits, '.', '_', '-'."""
    tenant = with_store(database_url, lambda store: AccountService(store).create_tenant(name))
    output.result(f"created tenant {tenant.name} ({tenant.id})")


def tenant_list(database_url: DatabaseUrl = None) -> None:
    """List tenants, oldest first."""
    tenants = with_store(database_url, lambda store: AccountService(store).list_tenants())
    output.table(
        ["name", "id", "enabled", "created"],
        ([t.name, t.id, output.yes_no(t.enabled), output.when(t.created_at)] for t in tenants),
    )


def tenant_enable(name: TenantName, database_url: DatabaseUrl = None) -> None:
    """Turn the webhook feature back on for a tenant."""
    _set_enabled(name, True, database_url)
    output.result(f"tenant {name} enabled")


def tenant_disable(name: TenantName, database_url: DatabaseUrl = None) -> None:
    """Turn the webhook feature off for a tenant: its calls answer 403, its events stay put."""
    _set_enabled(name, False, database_url)
    output.result(f"tenant {name} disabled")


def _set_enabled(name: str, enabled: bool, database_url: str | None) -> Tenant:
    return with_store(
        database_url, lambda store: AccountService(store).set_tenant_enabled(name, enabled)
    )


# -- API keys --------------------------------------------------------------------------------
def key_create(
    tenant: Annotated[str, typer.Option("--tenant", metavar="NAME", help="The key's tenant.")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help="The key's role.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it, alone on stdout, this one time (it is stored hashed).

    Capture it with KEY=$(hookline key create --tenant NAME --role admin).
    """
    issued = with_store(database_url, lambda store: AccountService(store).create_key(tenant, role))
    output.note(
        f"{issued.key.role} key {issued.key.id} for tenant {tenant}; "
        "it is shown once (below, on stdout) and cannot be recovered:"
    )
    output.result(issued.plaintext)


def key_list(
    tenant: Annotated[
        str | None, typer.Option("--tenant", metavar="NAME", help="Only this tenant's keys.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys (never the keys themselves: they are stored hashed)."""

    async def fetch(store: Store) -> tuple[list[ApiKey], dict[str, str]]:
        accounts = AccountService(store)
        keys = await accounts.list_keys(tenant)
        return keys, {t.id: t.name for t in await accounts.list_tenants()}

    keys, names = with_store(database_url, fetch)
    output.table(
        ["id", "tenant", "role", "prefix", "created", "revoked"],
        (
            [
                k.id,
                names.get(k.tenant_id, k.tenant_id),
                k.role.value,
                k.prefix,
                output.when(k.created_at),
                output.when(k.revoked_at),
            ]
            for k in keys
        ),
    )


def key_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (key_...).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key at once."""
    with_store(database_url, lambda store: AccountService(store).revoke_key(key_id))
    output.result(f"revoked key {key_id}")


# -- event catalogue -------------------------------------------------------------------------
def event_type_add(
    name: EventName,
    description: Annotated[str, typer.Option("--description", help="What the event means.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Add an event type (or bring back a removed one)."""
    with_store(database_url, lambda store: CatalogService(store).add(name, description))
    output.result(f"added event type {name}")


def event_type_list(database_url: DatabaseUrl = None) -> None:
    """List the event types that can be subscribed to and published."""
    types = with_store(database_url, lambda store: CatalogService(store).list_types())
    output.table(["name", "description"], ([t.name, t.description] for t in types))


def event_type_remove(name: EventName, database_url: DatabaseUrl = None) -> None:
    """Remove an event type: existing history keeps it; it can't be subscribed or published."""
    with_store(database_url, lambda store: CatalogService(store).remove(name))
    output.result(f"removed event type {name}")


def register(app: typer.Typer) -> None:
    """Add the ``tenant``, ``key`` and ``event-type`` command groups to ``app``."""
    groups: dict[str, tuple[str, dict[str, Callable[..., None]]]] = {
        "tenant": (
            "Tenants (accounts).",
            {
                "create": tenant_create,
                "list": tenant_list,
                "enable": tenant_enable,
                "disable": tenant_disable,
            },
        ),
        "key": (
            "API keys.",
            {"create": key_create, "list": key_list, "revoke": key_revoke},
        ),
        "event-type": (
            "The event catalogue.",
            {"add": event_type_add, "list": event_type_list, "remove": event_type_remove},
        ),
    }
    for group_name, (help_text, commands) in groups.items():
        group = typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)
        for command_name, function in commands.items():
            group.command(command_name)(function)
        app.add_typer(group, name=group_name)
