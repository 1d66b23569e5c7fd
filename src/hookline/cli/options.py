"""The settings as command-line options, and how options and environment become Settings.

Every option is read as text and laid over the environment under its variable's name; then
:meth:`Settings.from_env` parses the result. So ``--port abc`` is checked by exactly the parser
that checks ``HOOKLINE_PORT=abc``, and an error names what the user typed (``--port`` for an
option, ``HOOKLINE_PORT`` for the environment). An empty value means "the default", in both.

``--help`` shows each option's variable and default from :data:`hookline.config.SETTINGS` and
never reads the environment, so no secret set there can appear in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from hookline.config import SETTINGS, Settings
from hookline.errors import ConfigError
from hookline.observability import LOG_LEVEL_ENV, setup_logging

_BY_ENV = {setting.env: setting for setting in SETTINGS}
_VISIBLE = " Prefer the environment variable: command lines are visible to other local users."


def flag_for(env: str) -> str:
    """``HOOKLINE_DELIVERY_TIMEOUT`` -> ``--delivery-timeout``."""
    return "--" + env.removeprefix("HOOKLINE_").lower().replace("_", "-")


def _option(env: str, metavar: str | None, *, decl: str | None = None, note: str = "") -> Any:
    setting = _BY_ENV[env]
    shown = f"env var: {env}; default: {setting.default}" if setting.default else f"env var: {env}"
    return typer.Option(
        decl or flag_for(env),
        metavar=metavar,
        help=f"{setting.help}.{note} [{shown}]",
        show_default=False,
    )


DatabaseUrl = Annotated[str | None, _option("HOOKLINE_DATABASE_URL", "URL")]
Host = Annotated[str | None, _option("HOOKLINE_HOST", "ADDRESS")]
Port = Annotated[str | None, _option("HOOKLINE_PORT", "PORT")]
AdminKey = Annotated[str | None, _option("HOOKLINE_ADMIN_KEY", "KEY", note=_VISIBLE)]
DeliveryTimeout = Annotated[str | None, _option("HOOKLINE_DELIVERY_TIMEOUT", "SECONDS")]
MaxRetries = Annotated[str | None, _option("HOOKLINE_MAX_RETRIES", "N")]
RetryBaseDelay = Annotated[str | None, _option("HOOKLINE_RETRY_BASE_DELAY", "SECONDS")]
RetryMaxDelay = Annotated[str | None, _option("HOOKLINE_RETRY_MAX_DELAY", "SECONDS")]
AllowedNetworks = Annotated[str | None, _option("HOOKLINE_ALLOWED_NETWORKS", "CIDRS")]
RequireHttps = Annotated[
    bool | None,
    _option("HOOKLINE_REQUIRE_HTTPS", None, decl="--require-https/--no-require-https"),
]
SecretKey = Annotated[str | None, _option("HOOKLINE_SECRET_KEY", "PASSPHRASE", note=_VISIBLE)]
WorkerConcurrency = Annotated[str | None, _option("HOOKLINE_WORKER_CONCURRENCY", "N")]
LogRetentionDays = Annotated[str | None, _option("HOOKLINE_LOG_RETENTION_DAYS", "DAYS")]
EngineProcess = Annotated[
    bool | None,
    _option("HOOKLINE_ENGINE_PROCESS", None, decl="--engine-process/--no-engine-process"),
]
EngineProcesses = Annotated[str | None, _option("HOOKLINE_ENGINE_PROCESSES", "N")]
LogLevel = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help=f"debug, info, warning or error. [env var: {LOG_LEVEL_ENV}; default: info]",
        show_default=False,
    ),
]


def load_settings(env: Mapping[str, str] | None = None, **options: str | bool | None) -> Settings:
    """Settings from the environment with the given options laid over it.

    Args:
        env: the environment (``os.environ`` when None).
        options: setting fields by name (``port="8081"``, ``require_https=True``); None means
            "not given on the command line".

    Raises:
        ConfigError: one line naming the option or variable that is wrong.
    """
    merged = dict(os.environ if env is None else env)
    typed: dict[str, str] = {}
    for name, value in options.items():
        if value is None:
            continue
        variable = "HOOKLINE_" + name.upper()
        if variable not in _BY_ENV:
            raise TypeError(f"no setting called {name!r}")
        merged[variable] = ("true" if value else "false") if isinstance(value, bool) else value
        typed[variable] = flag_for(variable)
    try:
        return Settings.from_env(merged)
    except ConfigError as exc:
        message = exc.message
        for variable, flag in typed.items():
            message = re.sub(rf"\b{variable}\b", flag, message)
        raise ConfigError(message) from None


def secrets_of(settings: Settings) -> list[str]:
    """Values of these settings that must never be logged."""
    found = [settings.admin_key or "", settings.secret_key or ""]
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    return [value for value in found if value]


def start(params: Mapping[str, Any]) -> Settings:
    """A command's parameters (settings options plus ``log_level``) -> Settings, logging on."""
    options = dict(params)
    level = options.pop("log_level", None)
    settings = load_settings(**options)
    setup_logging(level, secrets=secrets_of(settings))
    return settings
