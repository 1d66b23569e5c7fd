"""Settings: read once from the environment into a frozen object and passed down.

Nothing here reads the environment at import time. :func:`Settings.from_env` takes a mapping
(normally ``os.environ``) so tests can build settings without touching the process.
A bad value raises :class:`~hookline.errors.ConfigError` with a one-line message naming the
variable; the CLI prints that line and exits non-zero.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from hookline.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MIN_SECRET_KEY_LENGTH = 32


@dataclass(frozen=True)
class Setting:
    """One documented setting: its variable, default (as text) and meaning."""

    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HOOKLINE_DATABASE_URL",
        "sqlite:///hookline.db",
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
    ),
    Setting("HOOKLINE_HOST", "127.0.0.1", "address the API listens on"),
    Setting("HOOKLINE_PORT", "8080", "port the API listens on"),
    Setting(
        "HOOKLINE_ADMIN_KEY",
        "",
        "if set, an admin key with exactly this value exists for tenant 'default'",
    ),
    Setting("HOOKLINE_DELIVERY_TIMEOUT", "5", "seconds for one whole delivery attempt"),
    Setting("HOOKLINE_MAX_RETRIES", "5", "retries after the first attempt"),
    Setting("HOOKLINE_RETRY_BASE_DELAY", "5", "seconds before the first retry (then x4)"),
    Setting("HOOKLINE_RETRY_MAX_DELAY", "3600", "cap on one retry delay, seconds"),
    Setting(
        "HOOKLINE_ALLOWED_NETWORKS",
        "",
        "comma-separated CIDRs exempt from the SSRF block (never the metadata addresses)",
    ),
    Setting("HOOKLINE_REQUIRE_HTTPS", "false", "refuse http:// webhook URLs"),
    Setting(
        "HOOKLINE_SECRET_KEY",
        "",
        "passphrase (32+ chars) that encrypts webhook secrets; SQLite generates hookline.key",
    ),
    Setting("HOOKLINE_WORKER_CONCURRENCY", "256", "deliveries in flight per worker process"),
    Setting("HOOKLINE_LOG_RETENTION_DAYS", "30", "delivery logs older than this are purged"),
    Setting(
        "HOOKLINE_ENGINE_PROCESS",
        "false",
        "serve only: deliver from a child process (more ingest on 2+ cores; see docs)",
    ),
    Setting(
        "HOOKLINE_ENGINE_PROCESSES",
        "1",
        "serve with HOOKLINE_ENGINE_PROCESS: how many delivery processes (1-32)",
    ),
)
MAX_ENGINE_PROCESSES = 32

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """Every setting of one Hookline process (contract section 1)."""

    database_url: str = "sqlite:///hookline.db"
    host: str = "127.0.0.1"
    port: int = 8080
    admin_key: str | None = None
    delivery_timeout: float = 5.0
    max_retries: int = 5
    retry_base_delay: float = 5.0
    retry_max_delay: float = 3600.0
    allowed_networks: tuple[IPNetwork, ...] = field(default=())
    require_https: bool = False
    secret_key: str | None = field(default=None, repr=False)
    worker_concurrency: int = 256
    log_retention_days: float = 30.0
    engine_process: bool = False  # serve's delivery engine in a child process
    engine_processes: int = 1  # how many, when engine_process is on

    @property
    def is_sqlite(self) -> bool:
        """True when the store is an SQLite file."""
        return self.database_url.startswith("sqlite:")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (command-line options win over the environment)."""
        present = {k: v for k, v in changes.items() if v is not None}
        if not present:
            return self
        names = {f.name for f in fields(self)}
        unknown = set(present) - names
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        candidate = replace(self, **present)
        candidate.validate()
        return candidate

    def validate(self) -> None:
        """Check cross-field rules; raise ConfigError with one line if something is off."""
        check_database_url(self.database_url)
        if not 1 <= self.port <= 65535:
            raise ConfigError("HOOKLINE_PORT must be between 1 and 65535")
        if self.retry_max_delay < self.retry_base_delay:
            raise ConfigError(
                "HOOKLINE_RETRY_MAX_DELAY must not be below HOOKLINE_RETRY_BASE_DELAY"
            )
        if self.engine_processes > MAX_ENGINE_PROCESSES:
            raise ConfigError(
                f"HOOKLINE_ENGINE_PROCESSES must be at most {MAX_ENGINE_PROCESSES}, "
                f"got {self.engine_processes}"
            )
        if self.engine_processes > 1 and not self.engine_process:
            # Never ignored in silence: the count means something only with the mode on.
            raise ConfigError("HOOKLINE_ENGINE_PROCESSES needs HOOKLINE_ENGINE_PROCESS=true")
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"HOOKLINE_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read every ``HOOKLINE_*`` variable from ``env``; unset or empty means the default."""

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or value.strip() == "":
                return None
            return value.strip()

        values: dict[str, Any] = {}
        if (url := get("HOOKLINE_DATABASE_URL")) is not None:
            values["database_url"] = url
        if (host := get("HOOKLINE_HOST")) is not None:
            values["host"] = host
        if (port := get("HOOKLINE_PORT")) is not None:
            values["port"] = parse_int("HOOKLINE_PORT", port, minimum=1)
        if (admin := env.get("HOOKLINE_ADMIN_KEY")) is not None and admin != "":
            values["admin_key"] = admin
        for name, attr in (
            ("HOOKLINE_DELIVERY_TIMEOUT", "delivery_timeout"),
            ("HOOKLINE_RETRY_BASE_DELAY", "retry_base_delay"),
            ("HOOKLINE_RETRY_MAX_DELAY", "retry_max_delay"),
            ("HOOKLINE_LOG_RETENTION_DAYS", "log_retention_days"),
        ):
            if (raw := get(name)) is not None:
                values[attr] = parse_seconds(name, raw)
        if (retries := get("HOOKLINE_MAX_RETRIES")) is not None:
            values["max_retries"] = parse_int("HOOKLINE_MAX_RETRIES", retries, minimum=0)
        if (conc := get("HOOKLINE_WORKER_CONCURRENCY")) is not None:
            values["worker_concurrency"] = parse_int("HOOKLINE_WORKER_CONCURRENCY", conc, minimum=1)
        if (nets := get("HOOKLINE_ALLOWED_NETWORKS")) is not None:
            values["allowed_networks"] = parse_networks("HOOKLINE_ALLOWED_NETWORKS", nets)
        if (https := get("HOOKLINE_REQUIRE_HTTPS")) is not None:
            values["require_https"] = parse_bool("HOOKLINE_REQUIRE_HTTPS", https)
        if (engine_process := get("HOOKLINE_ENGINE_PROCESS")) is not None:
            values["engine_process"] = parse_bool("HOOKLINE_ENGINE_PROCESS", engine_process)
        if (processes := get("HOOKLINE_ENGINE_PROCESSES")) is not None:
            values["engine_processes"] = parse_int(
                "HOOKLINE_ENGINE_PROCESSES", processes, minimum=1
            )
        if (secret := env.get("HOOKLINE_SECRET_KEY")) is not None and secret != "":
            values["secret_key"] = secret
        settings = cls(**values)
        settings.validate()
        return settings


def check_database_url(url: str) -> None:
    """Refuse a database URL whose scheme Hookline does not speak."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return
    if url.startswith(("postgresql://", "postgres://")):
        return
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"HOOKLINE_DATABASE_URL: unsupported scheme {scheme[:40]!r} "
        "(use sqlite:///PATH or postgresql://USER@HOST:PORT/DB)"
    )


def parse_int(name: str, raw: str, *, minimum: int) -> int:
    """A whole number of at least ``minimum``."""
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_seconds(name: str, raw: str) -> float:
    """A positive, finite number of seconds (fractions allowed)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw[:40]!r}")
    return value


def parse_bool(name: str, raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0."""
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw[:40]!r}")


def parse_networks(name: str, raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs; a bare address is a single-address network."""
    from hookline.delivery.ssrf import parse_allowed_networks

    try:
        return parse_allowed_networks(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
