"""The attempt tally writes what prometheus_client's own Counter and Histogram would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from hookline.metrics import LATENCY_BUCKETS, AttemptTally, Metrics


def stock_exposition(records: list[tuple[str, float]]) -> list[str]:
    registry = CollectorRegistry()
    counter = Counter(
        "hookline_attempts",
        "Delivery attempts by outcome (success, failure, refused).",
        ["outcome"],
        registry=registry,
    )
    histogram = Histogram(
        "hookline_attempt_duration_seconds",
        "Wall time of one delivery attempt.",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for outcome, seconds in records:
        counter.labels(outcome).inc()
        histogram.observe(seconds)
    return _without_created(generate_latest(registry))


def tally_exposition(records: list[tuple[str, float]]) -> list[str]:
    registry = CollectorRegistry()
    tally = AttemptTally(LATENCY_BUCKETS)
    registry.register(tally)
    for outcome, seconds in records:
        tally.record(outcome, seconds)
    return _without_created(generate_latest(registry))


def _without_created(exposition: bytes) -> list[str]:
    return [line for line in exposition.decode().splitlines() if "_created" not in line]


def test_the_same_lines_as_prometheus_clients_counter_and_histogram() -> None:
    rng = random.Random(6)
    # Durations as the engine makes them (whole milliseconds), bounds themselves included.
    records = [
        (rng.choice(["success", "failure", "refused"]), rng.randrange(0, 40_000) / 1000)
        for _ in range(5_000)
    ]
    records += [("success", bound) for bound in LATENCY_BUCKETS] + [("failure", 0.0)]
    assert tally_exposition(records) == stock_exposition(records)


def test_nothing_recorded_yet() -> None:
    assert tally_exposition([]) == stock_exposition([])


def test_the_tally_is_what_metrics_serves() -> None:
    metrics = Metrics()
    metrics.attempts.record("refused", 0.002)
    text = metrics.render().decode()
    assert 'hookline_attempts_total{outcome="refused"} 1.0' in text
    assert 'hookline_attempt_duration_seconds_bucket{le="0.005"} 1.0' in text
    assert "hookline_attempt_duration_seconds_count 1.0" in text
