"""The retry policy, table-driven with a seeded random source."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from hookline.delivery.retry import Outcome, RetryPolicy, next_delay, parse_retry_after

POLICY = RetryPolicy(max_retries=5, base_delay=5.0, max_delay=3600.0)
FAIL = Outcome(success=False, status_code=500)
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "nominal"), [(1, 5.0), (2, 20.0), (3, 80.0), (4, 320.0), (5, 1280.0)]
)
def test_delays_grow_4x_with_20_percent_jitter(attempts: int, nominal: float) -> None:
    rng = random.Random(7)
    for _ in range(200):
        delay = next_delay(POLICY, attempts, FAIL, rng)
        assert delay is not None
        assert nominal * 0.8 <= delay <= nominal * 1.2


def test_jitter_really_varies() -> None:
    rng = random.Random(1)
    seen = {next_delay(POLICY, 1, FAIL, rng) for _ in range(20)}
    assert len(seen) > 10


def test_six_attempts_at_most() -> None:
    rng = random.Random(0)
    assert next_delay(POLICY, 5, FAIL, rng) is not None
    assert next_delay(POLICY, 6, FAIL, rng) is None
    assert next_delay(RetryPolicy(max_retries=0), 1, FAIL, rng) is None


def test_cap_applies() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=5.0, max_delay=100.0)
    assert next_delay(policy, 9, FAIL, random.Random(0)) == 100.0


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(success=True, status_code=200),
        Outcome(success=False, status_code=410),
        Outcome(success=False, final=True),
    ],
)
def test_final_outcomes(outcome: Outcome) -> None:
    assert next_delay(POLICY, 1, outcome, random.Random(0)) is None


def test_retry_after_seconds_and_date_are_honoured_up_to_the_cap() -> None:
    rng = random.Random(0)
    seconds = Outcome(success=False, status_code=429, retry_after="42")
    assert next_delay(POLICY, 1, seconds, rng, NOW) == 42.0
    date = Outcome(success=False, status_code=503, retry_after="Sun, 29 Nov 2026 12:02:00 GMT")
    assert next_delay(POLICY, 1, date, rng, NOW) == 120.0
    huge = Outcome(success=False, status_code=429, retry_after="999999")
    assert next_delay(POLICY, 1, huge, rng, NOW) == 3600.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5e3"])
def test_unparseable_retry_after_falls_back_to_backoff(value: str) -> None:
    assert parse_retry_after(value, NOW) is None
    outcome = Outcome(success=False, status_code=429, retry_after=value)
    delay = next_delay(POLICY, 1, outcome, random.Random(0), NOW)
    assert delay is not None
    assert 4.0 <= delay <= 6.0
