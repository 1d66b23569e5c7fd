"""The composition root: the only module that knows the whole object graph.

``build_services`` turns frozen :class:`~hookline.config.Settings` into connected services;
``run_api`` serves the HTTP app on them. The CLI calls these; tests call them too, with an
injected resolver (DNS is the one thing tests may not do for real).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import logging
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hookline import __version__
from hookline.config import MIN_SECRET_KEY_LENGTH, Settings
from hookline.delivery import ssrf
from hookline.delivery.engine import Engine, EngineConfig
from hookline.delivery.pressure import PublishPressure
from hookline.delivery.retry import RetryPolicy
from hookline.delivery.sender import Sender
from hookline.delivery.transport import make_session
from hookline.domain.tenants import Principal
from hookline.domain.times import Clock, utcnow
from hookline.engine_process import EngineProcess
from hookline.errors import ConfigError
from hookline.metrics import Metrics
from hookline.secretbox import SecretBox
from hookline.services.access import TtlCache
from hookline.services.accounts import AccountService, IssuedKey
from hookline.services.catalog import CatalogService
from hookline.services.deliveries import DeliveryService
from hookline.services.events import EventService
from hookline.services.ratelimit import RateLimiter
from hookline.services.testing import WebhookTester
from hookline.services.webhooks import UrlGuard, WebhookService
from hookline.store import Store, open_store
from hookline.store.base import DeliveryQueue

log = logging.getLogger("hookline")

KEY_FILE_NAME = "hookline.key"
UI_SESSION_LABEL = b"hookline/ui-session/v1"
TEST_CONNECTIONS = 16  # outbound connections kept for the test endpoint beside the workers
PER_ENDPOINT_FLOOR = 8


@dataclass
class Services:
    """Everything the API, the UI and the CLI call, built once per process."""

    settings: Settings
    store: Store
    accounts: AccountService
    catalog: CatalogService
    webhooks: WebhookService
    resolver: ssrf.Resolver
    events: EventService
    deliveries: DeliveryService
    tester: WebhookTester
    sender: Sender
    engine: Engine
    metrics: Metrics
    session_key: bytes  # signs the web UI's cookies; derived apart from the secret box key
    roles: set[str] = field(default_factory=set)  # which halves run here: "api", "engine"
    # The publish routes' callers, by their Authorization header: enabled principals only, for
    # at most a second (a revoked key or a disabled tenant stops publishing within a second).
    publishers: TtlCache[str, Principal] = field(default_factory=TtlCache)
    # serve's engine when it runs in child processes (then ``engine`` above stays idle).
    engine_processes: list[EngineProcess] = field(default_factory=list)
    # The publishes in progress here, which this process's engine gives way to.
    pressure: PublishPressure = field(default_factory=PublishPressure)

    def delivering(self) -> bool:
        """Whether this process's delivery engine (or every engine process) is running."""
        if "engine" not in self.roles:
            return False
        if self.engine_processes:
            return all(child.running for child in self.engine_processes)
        return self.engine.running

    async def close(self) -> None:
        """Release outbound connections and the database."""
        await self.sender.close()
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


def derive_session_key(passphrase: str) -> bytes:
    """The key that signs the web UI's session cookies and CSRF tokens.

    HMAC-SHA256 of a fixed label under the passphrase: every process of a deployment derives
    the same key (a session survives a restart and works on any API process), and it is
    unrelated to the key that seals webhook secrets (scrypt with another label), so a leaked
    session key opens no secret.
    """
    return hmac.new(passphrase.encode("utf-8"), UI_SESSION_LABEL, hashlib.sha256).digest()


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
    passphrase = resolve_secret_key(settings)
    box = SecretBox(passphrase)
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
    webhooks = WebhookService(store, box, catalog, make_url_guard(settings, resolver), clock)
    metrics = Metrics()
    sender = make_sender(settings, resolver, limit=settings.worker_concurrency + TEST_CONNECTIONS)
    pressure = PublishPressure()
    engine = make_engine(settings, store, sender, box, metrics, clock, pressure)
    return Services(
        settings=settings,
        store=store,
        accounts=AccountService(store, clock),
        catalog=catalog,
        webhooks=webhooks,
        resolver=resolver,
        events=EventService(store, catalog, clock),
        deliveries=DeliveryService(store, clock),
        tester=WebhookTester(store, webhooks, catalog, sender, RateLimiter(), clock),
        sender=sender,
        engine=engine,
        metrics=metrics,
        session_key=derive_session_key(passphrase),
        pressure=pressure,
    )


def make_sender(settings: Settings, resolver: ssrf.Resolver, *, limit: int) -> Sender:
    """The outbound HTTP client (signing, SSRF-checked connections), ``limit`` connections."""
    return Sender(
        make_session(resolver=resolver, allowed=settings.allowed_networks, limit=limit),
        timeout=settings.delivery_timeout,
        allowed=settings.allowed_networks,
        user_agent=f"Hookline/{__version__}",
    )


def make_engine(
    settings: Settings,
    queue: DeliveryQueue,
    sender: Sender,
    box: SecretBox,
    metrics: Metrics,
    clock: Clock = utcnow,
    pressure: PublishPressure | None = None,
) -> Engine:
    """The delivery engine on ``queue`` (a store, or a link to another process's store),
    giving way to the publishes counted by ``pressure`` (those of its own process)."""
    policy = RetryPolicy(settings.max_retries, settings.retry_base_delay, settings.retry_max_delay)
    config = engine_config(settings)
    return Engine(queue, sender, box, policy, config, metrics, clock, pressure=pressure)


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's knobs from the settings."""
    return EngineConfig(
        concurrency=settings.worker_concurrency,
        # A quarter of the slots per endpoint: one hanging endpoint cannot take them all.
        per_endpoint=min(
            settings.worker_concurrency,
            max(PER_ENDPOINT_FLOOR, settings.worker_concurrency // 4),
        ),
        timeout=settings.delivery_timeout,
        log_retention=timedelta(days=settings.log_retention_days),
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
    """Serve the HTTP API (and UI), plus the delivery engine when ``"engine"`` is in
    ``roles``, until SIGINT/SIGTERM; then stop claiming and let attempts in flight finish."""
    import uvicorn

    from hookline.api.app import create_app
    from hookline.api.http_protocol import CorkedHttpToolsProtocol

    services = await build_services(settings)
    services.roles = roles
    engine_task: asyncio.Task[None] | None = None
    stop_engine: Callable[[], None] = services.engine.stop
    try:
        issued = await bootstrap_keys(services)
        app = create_app(services)
        gc.freeze()  # the app and services live as long as the process: keep them out of GC
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            http=CorkedHttpToolsProtocol,
        )
        server = uvicorn.Server(config)
        if "engine" in roles and settings.engine_process:
            count = settings.engine_processes
            children = [
                EngineProcess(settings, services.store, services.metrics, index, count)
                for index in range(count)
            ]
            services.engine_processes, stop_engine = children, partial(_stop_all, children)
            engine_task = asyncio.create_task(_run_all(children), name="hookline-engine-process")
        elif "engine" in roles:
            engine_task = asyncio.create_task(services.engine.run(), name="hookline-engine")
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
        if engine_task is not None:
            stop_engine()
            await engine_task
        await services.close()


async def _run_all(children: list[EngineProcess]) -> None:
    await asyncio.gather(*(child.run() for child in children))


def _stop_all(children: list[EngineProcess]) -> None:
    for child in children:
        child.stop()


async def run_worker(
    settings: Settings,
    *,
    announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> None:
    """Run only the delivery engine until SIGINT/SIGTERM, then drain and exit."""
    services = await build_services(settings)
    services.roles = {"engine"}
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, services.engine.stop)
    try:
        announce(
            f"Hookline {__version__} worker ({describe_database(settings)}), "
            f"{settings.worker_concurrency} deliveries in flight at most"
        )
        await services.engine.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await services.close()


R = TypeVar("R")
SWITCH_INTERVAL = 0.0002  # seconds: see run_process


def run_process(main: Coroutine[Any, Any, R]) -> R:
    """Run a server process's coroutine (``serve``, ``api``, ``worker``) on uvloop when it is
    installed, tuned for a long-lived, busy process:

    * the objects made at start-up (modules, app, settings) are frozen out of the garbage
      collector's reach, and the collector runs less often (Hookline makes few cycles);
    * the interpreter switches threads every 0.2 ms instead of 5 ms: the SQLite thread needs
      the GIL back at the end of every statement, and waits for the event loop to give it up;
      under batch ingest each long statement cost its group ~1 ms so (a group of 500 events
      took ~12 ms in ``serve`` against ~5 ms alone), and the store's thread is what publishing
      waits for. Measured in turns against 0.5 ms: batches of 500 +12 % (median of 6 pairs),
      delivery (scenario 2) and single-event ingest unchanged within the noise. (Python's
      default, 5 ms, would let either thread wait that long for the other.)
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        import uvloop
    except ImportError:  # optional (not on Windows)
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
