"""Logging setup (Prometheus metrics join this module later).

Every record is ONE line on stderr: ``2026-05-01T12:00:00.123Z INFO hookline.runtime: ...``.
Newlines inside a message or a traceback are written as ``\\n`` so that one record never spans
lines (``grep`` and log shippers see whole records). Values registered as secrets (the admin
key, the secret key, a database password) are replaced by ``***`` in the final text, whatever
logged them: the last line of defence behind "never log secrets".

The level comes from ``--log-level`` or ``HOOKLINE_LOG_LEVEL`` (default ``info``) and applies to
Hookline's own loggers; other libraries log warnings and worse only.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping

from hookline.errors import ConfigError

LOG_LEVEL_ENV = "HOOKLINE_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "info"
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_MIN_SECRET_LENGTH = 4  # shorter values would scrub ordinary words out of every line


class OneLineFormatter(logging.Formatter):
    """UTC timestamp, level, logger and message on one line, with secrets scrubbed."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(
            fmt="%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
        self.converter = time.gmtime
        self._secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (tracebacks included), secrets replaced by ``***``."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def parse_level(flag: str | None, env: Mapping[str, str]) -> int:
    """The level from ``--log-level`` if given, else from the environment, else info."""
    if flag is not None:
        name, raw = "--log-level", flag
    else:
        name, raw = LOG_LEVEL_ENV, env.get(LOG_LEVEL_ENV, "").strip() or DEFAULT_LOG_LEVEL
    level = LEVELS.get(raw.strip().lower())
    if level is None:
        choices = ", ".join(LEVELS)
        raise ConfigError(f"{name} must be one of {choices}, got {raw[:40]!r}")
    return level


def setup_logging(
    flag: str | None = None,
    *,
    secrets: Iterable[str | None] = (),
    env: Mapping[str, str] | None = None,
) -> int:
    """Send one-line records to stderr; return the level chosen for Hookline's loggers.

    Calling it again replaces the handler it installed before (never stacks handlers).

    Args:
        flag: the ``--log-level`` value, or None to use ``HOOKLINE_LOG_LEVEL``.
        secrets: values that must never appear in a log line (None entries are ignored).
        env: the environment (``os.environ`` when None).
    """
    level = parse_level(flag, os.environ if env is None else env)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(s for s in secrets if s))
    handler.set_name("hookline")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "hookline"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("hookline").setLevel(level)
    return level
