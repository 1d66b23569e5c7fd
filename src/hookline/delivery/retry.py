"""The retry policy: a pure function of the attempt's outcome, the settings and a random draw.

Delays: ``base * 4**(n-1)`` before retry *n*, each with +-20% jitter, capped at ``max_delay``;
a ``Retry-After`` from the receiver replaces the computed delay (still capped). Some outcomes
are final at once: ``410 Gone`` and a destination refused by the SSRF policy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from hookline.domain.values import value_object

GROWTH = 4.0
JITTER = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    """The knobs (from settings)."""

    max_retries: int = 5
    base_delay: float = 5.0
    max_delay: float = 3600.0


@value_object
class Outcome:
    """What one attempt tells the policy."""

    success: bool
    status_code: int | None = None
    retry_after: str | None = None  # the raw header value, if any
    final: bool = False  # e.g. the destination is not allowed


def next_delay(
    policy: RetryPolicy,
    attempts_made: int,
    outcome: Outcome,
    rng: random.Random,
    now: datetime | None = None,
) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when there is none.

    Args:
        policy: the retry settings.
        attempts_made: attempts so far, including the one that just ended (1 after the first).
        outcome: how that attempt ended.
        rng: the randomness for jitter (seeded in tests).
        now: the clock, for ``Retry-After`` given as an HTTP date.
    """
    if outcome.success or outcome.final or outcome.status_code == 410:
        return None
    if attempts_made >= 1 + policy.max_retries:
        return None
    if outcome.retry_after is not None:
        hinted = parse_retry_after(outcome.retry_after, now or datetime.now(UTC))
        if hinted is not None:
            return min(hinted, policy.max_delay)
    delay = policy.base_delay * GROWTH ** (attempts_made - 1)
    delay *= 1 + rng.uniform(-JITTER, JITTER)
    return min(delay, policy.max_delay)


def parse_retry_after(value: str, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if unparseable."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
