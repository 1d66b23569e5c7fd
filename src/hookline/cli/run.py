"""Running Hookline: ``serve``, ``api``, ``worker`` and ``migrate``.

``serve`` runs every role in one process and is the only way to run on SQLite (one process
owns the file). ``api`` and ``worker`` are the halves of ``serve`` for PostgreSQL deployments,
any number of each. SIGTERM (and Ctrl-C) stop a server gracefully: in-flight requests finish,
the store is closed; SIGTERM then exits 0, Ctrl-C 130.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from types import FrameType

import typer

from hookline.cli import output
from hookline.cli.options import (
    AdminKey,
    AllowedNetworks,
    DatabaseUrl,
    DeliveryTimeout,
    EngineProcess,
    EngineProcesses,
    Host,
    LogLevel,
    LogRetentionDays,
    MaxRetries,
    Port,
    RequireHttps,
    RetryBaseDelay,
    RetryMaxDelay,
    SecretKey,
    WorkerConcurrency,
    start,
)
from hookline.config import Settings
from hookline.errors import HooklineError
from hookline.store import open_store

EXIT_REFUSED = 2
SQLITE_REFUSAL = (
    "hookline {command} needs PostgreSQL: with SQLite, run `hookline serve` "
    "(one process owns the file)"
)


class Terminated(Exception):
    """SIGTERM arrived: stop like after Ctrl-C, but as a normal, successful end."""


def serve_roles(settings: Settings) -> set[str]:
    """The roles that ``hookline serve`` runs together in one process.

    The contract's ``serve`` is API + UI + notification engine + delivery workers, on any
    store: role ``api`` (API and UI) and role ``engine`` (claiming and sending).
    """
    del settings  # every store gets the same roles
    return {"api", "engine"}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def check_listen_address(host: str, port: int) -> None:
    """Fail with one line, before touching the store, if ``host:port`` cannot be listened on.

    (The server binds again for real; this turns the common mistakes, a busy port or a host
    that is not an address of this machine, into ``hookline: ...`` instead of a server log.)
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise HooklineError(f"cannot listen on {host}:{port}: {reason}") from None


def run_http(settings: Settings, roles: set[str]) -> None:
    """Serve the API (and whatever ``roles`` add) until SIGINT or SIGTERM."""
    from hookline.runtime import run_api, run_process

    check_listen_address(settings.host, settings.port)

    # uvicorn catches SIGTERM itself, shuts down gracefully, then re-raises the signal to the
    # handler that was there before it: this one, which ends the process with exit 0.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        run_process(run_api(settings, roles=roles))
    except Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refuse_on_sqlite(settings: Settings, command: str) -> None:
    if settings.is_sqlite:
        output.note(SQLITE_REFUSAL.format(command=command))
        raise typer.Exit(EXIT_REFUSED)


def serve(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    admin_key: AdminKey = None,
    delivery_timeout: DeliveryTimeout = None,
    max_retries: MaxRetries = None,
    retry_base_delay: RetryBaseDelay = None,
    retry_max_delay: RetryMaxDelay = None,
    allowed_networks: AllowedNetworks = None,
    require_https: RequireHttps = None,
    secret_key: SecretKey = None,
    worker_concurrency: WorkerConcurrency = None,
    log_retention_days: LogRetentionDays = None,
    engine_process: EngineProcess = None,
    engine_processes: EngineProcesses = None,
    log_level: LogLevel = None,
) -> None:
    """Run everything in one process: API, web UI and delivery (SQLite or PostgreSQL).

    On a store without any API key (and no HOOKLINE_ADMIN_KEY), creates tenant 'default' and
    one admin key, and prints that key once.
    """
    settings = start(locals())  # locals() is exactly the parameters at this point
    run_http(settings, serve_roles(settings))


def api(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    admin_key: AdminKey = None,
    delivery_timeout: DeliveryTimeout = None,
    max_retries: MaxRetries = None,
    retry_base_delay: RetryBaseDelay = None,
    retry_max_delay: RetryMaxDelay = None,
    allowed_networks: AllowedNetworks = None,
    require_https: RequireHttps = None,
    secret_key: SecretKey = None,
    worker_concurrency: WorkerConcurrency = None,
    log_retention_days: LogRetentionDays = None,
    engine_process: EngineProcess = None,
    engine_processes: EngineProcesses = None,
    log_level: LogLevel = None,
) -> None:
    """Run the API and web UI only, without delivery (PostgreSQL)."""
    settings = start(locals())
    _refuse_on_sqlite(settings, "api")
    run_http(settings, {"api"})


def worker(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    admin_key: AdminKey = None,
    delivery_timeout: DeliveryTimeout = None,
    max_retries: MaxRetries = None,
    retry_base_delay: RetryBaseDelay = None,
    retry_max_delay: RetryMaxDelay = None,
    allowed_networks: AllowedNetworks = None,
    require_https: RequireHttps = None,
    secret_key: SecretKey = None,
    worker_concurrency: WorkerConcurrency = None,
    log_retention_days: LogRetentionDays = None,
    engine_process: EngineProcess = None,
    engine_processes: EngineProcesses = None,
    log_level: LogLevel = None,
) -> None:
    """Run the notification engine and delivery workers only (PostgreSQL)."""
    settings = start(locals())
    _refuse_on_sqlite(settings, "worker")
    from hookline.runtime import run_process, run_worker

    run_process(run_worker(settings))  # SIGTERM/SIGINT: stop claiming, drain, exit 0


def migrate(database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """Create or upgrade the database schema, then exit."""
    settings = start(locals())
    applied = asyncio.run(_migrate(settings.database_url))
    for name in applied:
        output.result(f"applied {name}")
    if not applied:
        output.result("schema is up to date")


async def _migrate(url: str) -> list[str]:
    store = open_store(url)
    await store.open()
    try:
        return await store.migrate()
    finally:
        await store.close()


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``api``, ``worker`` and ``migrate`` to ``app``."""
    for function in (serve, api, worker, migrate):
        app.command(function.__name__)(function)
