"""The client package on its own: no server imports, no key in reprs, argument checks."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

import hookline.client
from hookline.client import AsyncHookline, Hookline, HooklineError, UrlNotAllowed
from hookline.client._core import retry_after
from hookline.client.errors import FieldError, error_from_answer
from hookline.client.models import parse_time

KEY = "hk_super-secret-key-value"


def test_importing_the_client_does_not_import_the_server() -> None:
    code = (
        "import sys, hookline.client\n"
        "server = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'asyncpg', 'uvicorn')"
        " or m.startswith(('hookline.api', 'hookline.store', 'hookline.services'))]\n"
        "print(server)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_key_is_never_shown() -> None:
    with Hookline("http://user:pw@127.0.0.1:8080/base/", KEY) as client:
        assert repr(client) == "Hookline(base_url='http://127.0.0.1:8080/base', api_key='***')"
        assert KEY not in repr(client.__dict__)
    assert KEY not in repr(AsyncHookline("http://127.0.0.1:8080", KEY))


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (("http://127.0.0.1:8080", ""), {}),
        (("127.0.0.1:8080", KEY), {}),
        (("ftp://127.0.0.1", KEY), {}),
        (("http://127.0.0.1:8080", KEY), {"retries": -1}),
        (("http://127.0.0.1:8080", KEY), {"backoff": -0.1}),
    ],
)
def test_bad_settings_are_refused_at_once(args: tuple[str, str], options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must") as caught:
        Hookline(*args, **options)  # type: ignore[arg-type]
    assert KEY not in str(caught.value)


def test_ids_and_events_are_checked_before_sending() -> None:
    with Hookline("http://127.0.0.1:9", KEY, retries=0) as client:
        for bad in ("", ".", ".."):
            with pytest.raises(ValueError, match="webhook_id"):
                client.get_webhook(bad)
        with pytest.raises(TypeError, match=r"events\[1\]"):
            client.publish_batch([{"event": "ReportPublished"}, "ReportPublished"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="JSON"):
            client.publish("ReportPublished", {"x": float("nan")})


def test_error_classes_follow_the_answer() -> None:
    refused = error_from_answer(
        400,
        {
            "error": {
                "code": "url_not_allowed",
                "message": "url: loopback",
                "details": [{"field": "url", "message": "destination 10.0.0.5 is not allowed"}],
            }
        },
    )
    assert isinstance(refused, UrlNotAllowed)
    assert refused.details == (FieldError("url", "destination 10.0.0.5 is not allowed"),)
    assert str(refused) == "HTTP 400 url_not_allowed: url: loopback"
    disabled = error_from_answer(403, {"error": {"code": "webhooks_disabled", "message": "off"}})
    assert type(disabled) is hookline.client.WebhooksDisabled
    assert isinstance(disabled, hookline.client.ForbiddenError)
    odd = error_from_answer(418, "not an envelope")
    assert type(odd) is HooklineError
    assert odd.code == "i'm_a_teapot"


def test_times_are_aware_utc() -> None:
    assert parse_time("2026-01-31T12:00:00.123Z") == datetime(2026, 1, 31, 12, 0, 0, 123000, UTC)
    assert parse_time("2026-01-31T13:00:00+01:00").tzinfo is UTC
    assert parse_time("2026-01-31T12:00:00").tzinfo is UTC


def test_retry_after_forms() -> None:
    import httpx

    def after(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    assert after("3") == 3.0
    assert after("-5") == 0.0
    assert after("86400") == 60.0  # capped
    assert after("soon") is None
    assert after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
