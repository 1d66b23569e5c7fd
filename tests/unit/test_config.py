"""Settings: defaults, parsing, and one-line errors for bad values."""

from __future__ import annotations

import ipaddress

import pytest

from hookline.config import SETTINGS, Settings
from hookline.errors import ConfigError


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///hookline.db"
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.admin_key is None
    assert s.delivery_timeout == 5.0
    assert s.max_retries == 5
    assert s.retry_base_delay == 5.0
    assert s.retry_max_delay == 3600.0
    assert s.allowed_networks == ()
    assert s.require_https is False
    assert s.secret_key is None
    assert s.worker_concurrency == 256
    assert s.log_retention_days == 30.0
    assert s.is_sqlite


def test_documented_defaults_agree_with_the_object() -> None:
    s = Settings()
    by_env = {item.env: item.default for item in SETTINGS}
    assert by_env["HOOKLINE_PORT"] == str(s.port)
    assert by_env["HOOKLINE_DATABASE_URL"] == s.database_url
    assert float(by_env["HOOKLINE_DELIVERY_TIMEOUT"]) == s.delivery_timeout
    assert int(by_env["HOOKLINE_WORKER_CONCURRENCY"]) == s.worker_concurrency
    assert int(by_env["HOOKLINE_ENGINE_PROCESSES"]) == s.engine_processes
    assert len(SETTINGS) == 15


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        {
            "HOOKLINE_DATABASE_URL": "postgresql://u@db:5432/hooks",
            "HOOKLINE_HOST": "0.0.0.0",
            "HOOKLINE_PORT": "9090",
            "HOOKLINE_ADMIN_KEY": "admin-key-value",
            "HOOKLINE_DELIVERY_TIMEOUT": "0.2",
            "HOOKLINE_MAX_RETRIES": "0",
            "HOOKLINE_RETRY_BASE_DELAY": "0.05",
            "HOOKLINE_RETRY_MAX_DELAY": "1.5",
            "HOOKLINE_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128",
            "HOOKLINE_REQUIRE_HTTPS": "yes",
            "HOOKLINE_SECRET_KEY": "k" * 32,
            "HOOKLINE_WORKER_CONCURRENCY": "16",
            "HOOKLINE_LOG_RETENTION_DAYS": "7",
            "HOOKLINE_ENGINE_PROCESS": "on",
            "HOOKLINE_ENGINE_PROCESSES": "4",
        }
    )
    assert s.database_url.startswith("postgresql://")
    assert not s.is_sqlite
    assert (s.host, s.port) == ("0.0.0.0", 9090)
    assert s.admin_key == "admin-key-value"
    assert s.delivery_timeout == 0.2
    assert s.max_retries == 0
    assert (s.retry_base_delay, s.retry_max_delay) == (0.05, 1.5)
    assert s.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert s.require_https is True
    assert s.worker_concurrency == 16
    assert s.log_retention_days == 7.0
    assert (s.engine_process, s.engine_processes) == (True, 4)


def test_secret_key_is_not_in_repr() -> None:
    s = Settings.from_env({"HOOKLINE_SECRET_KEY": "p" * 40})
    assert "p" * 40 not in repr(s)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"HOOKLINE_PORT": "abc"}, "HOOKLINE_PORT"),
        ({"HOOKLINE_PORT": "70000"}, "HOOKLINE_PORT"),
        ({"HOOKLINE_PORT": "0"}, "HOOKLINE_PORT"),
        ({"HOOKLINE_DATABASE_URL": "mysql://x"}, "HOOKLINE_DATABASE_URL"),
        ({"HOOKLINE_DATABASE_URL": "sqlite:///"}, "HOOKLINE_DATABASE_URL"),
        ({"HOOKLINE_ALLOWED_NETWORKS": "10.0.0.0/33"}, "HOOKLINE_ALLOWED_NETWORKS"),
        ({"HOOKLINE_ALLOWED_NETWORKS": "nonsense"}, "HOOKLINE_ALLOWED_NETWORKS"),
        ({"HOOKLINE_DELIVERY_TIMEOUT": "-1"}, "HOOKLINE_DELIVERY_TIMEOUT"),
        ({"HOOKLINE_DELIVERY_TIMEOUT": "nan"}, "HOOKLINE_DELIVERY_TIMEOUT"),
        ({"HOOKLINE_MAX_RETRIES": "-1"}, "HOOKLINE_MAX_RETRIES"),
        ({"HOOKLINE_MAX_RETRIES": "1.5"}, "HOOKLINE_MAX_RETRIES"),
        ({"HOOKLINE_REQUIRE_HTTPS": "maybe"}, "HOOKLINE_REQUIRE_HTTPS"),
        ({"HOOKLINE_SECRET_KEY": "short"}, "HOOKLINE_SECRET_KEY"),
        ({"HOOKLINE_WORKER_CONCURRENCY": "0"}, "HOOKLINE_WORKER_CONCURRENCY"),
        ({"HOOKLINE_ENGINE_PROCESS": "sometimes"}, "HOOKLINE_ENGINE_PROCESS"),
        ({"HOOKLINE_ENGINE_PROCESS": "on", "HOOKLINE_ENGINE_PROCESSES": "0"}, "PROCESSES"),
        ({"HOOKLINE_ENGINE_PROCESS": "on", "HOOKLINE_ENGINE_PROCESSES": "33"}, "PROCESSES"),
        ({"HOOKLINE_ENGINE_PROCESS": "on", "HOOKLINE_ENGINE_PROCESSES": "2x"}, "PROCESSES"),
        ({"HOOKLINE_ENGINE_PROCESSES": "2"}, "HOOKLINE_ENGINE_PROCESS=true"),
        (
            {"HOOKLINE_RETRY_BASE_DELAY": "10", "HOOKLINE_RETRY_MAX_DELAY": "1"},
            "HOOKLINE_RETRY_MAX_DELAY",
        ),
    ],
)
def test_bad_values_raise_one_line(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_overrides_are_validated() -> None:
    base = Settings.from_env({})
    assert base.with_overrides(port=9000).port == 9000
    assert base.with_overrides(port=None) is base
    with pytest.raises(ConfigError):
        base.with_overrides(port=0)
    with pytest.raises(ConfigError):
        base.with_overrides(nonsense=1)


@pytest.mark.parametrize(("raw", "expected"), [("on", True), ("0", False), ("", False)])
def test_engine_process_is_a_boolean_off_by_default(raw: str, expected: bool) -> None:
    assert Settings.from_env({"HOOKLINE_ENGINE_PROCESS": raw}).engine_process is expected


def test_engine_processes_count_the_children_of_the_engine_process_mode() -> None:
    assert Settings.from_env({}).engine_processes == 1
    on = {"HOOKLINE_ENGINE_PROCESS": "on"}
    assert Settings.from_env({**on, "HOOKLINE_ENGINE_PROCESSES": "3"}).engine_processes == 3
    # One is the default, so saying it without the mode changes nothing and is no error.
    assert Settings.from_env({"HOOKLINE_ENGINE_PROCESSES": "1"}).engine_process is False
