"""The composition root: the only module that knows the whole object graph.

``build_services`` turns frozen :class:`~hookline.config.Settings` into connected services;
``run_api`` serves the HTTP app on them. The CLI calls these; tests call them too, with an
injected resolver (DNS is the one thing tests may not do for real).
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hookline import __version__
from hookline.config import MIN_SECRET_KEY_LENGTH, Settings
from hookline.delivery import ssrf
from hookline.domain.times import Clock, utcnow
from hookline.errors import ConfigError
from hookline.secretbox import SecretBox
from hookline.services.accounts import AccountService, IssuedKey
from hookline.services.catalog import CatalogService
from hookline.services.webhooks import UrlGuard, WebhookService
from hookline.store import Store, open_store

log = logging.getLogger("hookline")

KEY_FILE_NAME = "hookline.key"


@dataclass
class Services:
    """Everything the API, the UI and the CLI call, built once per process."""

    settings: Settings
    store: Store
    accounts: AccountService
    catalog: CatalogService
    webhooks: WebhookService
    resolver: ssrf.Resolver
    roles: set[str] = field(default_factory=set)  # which halves run here: "api", "engine"

    async def close(self) -> None:
        """Release the database."""
        await self.store.close()


def sqlite_path(settings: Settings) -> Path:
    """The database file of an SQLite URL."""
    return Path(settings.database_url.removeprefix("sqlite:///"))


def resolve_secret_key(settings: Settings) -> str:
    """The passphrase that seals webhook secrets.

    With SQLite and no ``HOOKLINE_SECRET_KEY``, it lives in ``hookline.key`` beside the database
    file and is generated (mode 0600) on first start, so a single machine needs no setup.
    """
    if settings.secret_key is not None:
        return settings.secret_key
    if not settings.is_sqlite:
        raise ConfigError("HOOKLINE_SECRET_KEY is required with PostgreSQL")
    key_file = sqlite_path(settings).parent / KEY_FILE_NAME
    try:
        if key_file.exists():
            value = key_file.read_text(encoding="utf-8").strip()
            if len(value) < MIN_SECRET_KEY_LENGTH:
                raise ConfigError(f"{key_file} is too short to be a Hookline secret key")
            return value
        value = secrets.token_urlsafe(48)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600, exist_ok=False)
        key_file.write_text(value + "\n", encoding="utf-8")
        return value
    except OSError as exc:
        raise ConfigError(f"cannot use secret key file {key_file}: {exc.strerror}") from None


def make_url_guard(settings: Settings, resolver: ssrf.Resolver) -> UrlGuard:
    """The create/update/test-time SSRF check, configured by the settings."""

    async def guard(url: str) -> None:
        await ssrf.vet_url(
            url,
            resolver=resolver,
            allowed=settings.allowed_networks,
            require_https=settings.require_https,
        )

    return guard


async def build_services(
    settings: Settings,
    *,
    resolver: ssrf.Resolver | None = None,
    clock: Clock = utcnow,
    migrate: bool = True,
) -> Services:
    """Open the store (migrating it unless told not to) and wire the services on it."""
    box = SecretBox(resolve_secret_key(settings))
    store = open_store(settings.database_url)
    await store.open()
    try:
        if migrate:
            applied = await store.migrate()
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
    except BaseException:
        await store.close()
        raise
    resolver = resolver or ssrf.system_resolver
    catalog = CatalogService(store, clock)
    return Services(
        settings=settings,
        store=store,
        accounts=AccountService(store, clock),
        catalog=catalog,
        webhooks=WebhookService(store, box, catalog, make_url_guard(settings, resolver), clock),
        resolver=resolver,
    )


async def bootstrap_keys(services: Services) -> IssuedKey | None:
    """``HOOKLINE_ADMIN_KEY`` exists if set; else a brand-new store gets one admin key."""
    if services.settings.admin_key is not None:
        await services.accounts.ensure_admin_key(services.settings.admin_key)
        return None
    return await services.accounts.first_start_key()


def describe_database(settings: Settings) -> str:
    """Where the data lives, without any password."""
    if settings.is_sqlite:
        return f"SQLite {sqlite_path(settings)}"
    rest = settings.database_url.split("://", 1)[1]
    host_part = rest.rsplit("@", 1)[-1]
    return f"PostgreSQL {host_part}"


async def run_api(
    settings: Settings,
    *,
    roles: set[str],
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> None:
    """Serve the HTTP API (and UI) until SIGINT/SIGTERM."""
    import uvicorn

    from hookline.api.app import create_app

    services = await build_services(settings)
    services.roles = roles
    try:
        issued = await bootstrap_keys(services)
        app = create_app(services)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
        )
        server = uvicorn.Server(config)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        announce(
            f"Hookline {__version__} on http://{host}:{settings.port} "
            f"({describe_database(settings)}); API docs at /docs"
        )
        if issued is not None:
            announce(
                f"Admin API key for tenant 'default' (shown once, keep it): {issued.plaintext}"
            )
        await server.serve()
    finally:
        await services.close()
