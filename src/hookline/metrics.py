"""Prometheus metrics, in a registry of their own (one per process, made by the runtime)."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hookline.domain.deliveries import QueueStats

# The families the delivery engine writes. When the engine runs in a process of its own (``serve``
# on SQLite), that process reports these and the API process serves them in place of its own.
ENGINE_FAMILIES = frozenset(
    {
        "hookline_attempts",
        "hookline_attempt_duration_seconds",
        "hookline_deliveries_in_flight",
        "hookline_leases_lost",
    }
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every metric Hookline exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._engine_expositions: dict[int, bytes] = {}  # the latest report of each process
        r = self.registry
        self.attempts = AttemptTally(LATENCY_BUCKETS)
        r.register(self.attempts)
        self.events_published = Counter(
            "hookline_events_published", "Events accepted by this process.", registry=r
        )
        self.deliveries_published = Counter(
            "hookline_deliveries_published",
            "Deliveries queued by publishing in this process.",
            registry=r,
        )
        self.in_flight = Gauge(
            "hookline_deliveries_in_flight", "Attempts in flight in this process.", registry=r
        )
        self.leases_lost = Counter(
            "hookline_leases_lost",
            "Completions dropped because another worker had taken the delivery over.",
            registry=r,
        )
        self.queue_live = Gauge(
            "hookline_queue_depth", "Deliveries pending or in flight (all processes).", registry=r
        )
        self.queue_due = Gauge("hookline_queue_due", "Deliveries due now.", registry=r)
        self.oldest_due = Gauge(
            "hookline_queue_oldest_due_seconds",
            "How long the oldest due delivery has been waiting.",
            registry=r,
        )

    def observe_queue(self, stats: QueueStats) -> None:
        """Record a fresh reading of the queue."""
        self.queue_live.set(stats.live)
        self.queue_due.set(stats.due)
        self.oldest_due.set(stats.oldest_due_seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (with the engine processes' families, if any)."""
        own = generate_latest(self.registry)
        reports = list(self._engine_expositions.values())
        if not reports:
            return own
        # Summed here, when scraped, rather than at each process's report (every second).
        engine = reports[0] if len(reports) == 1 else merge_expositions(reports)
        kept = b"".join(block for name, block in _families(own) if name not in ENGINE_FAMILIES)
        return kept + engine

    def engine_families(self) -> bytes:
        """This process's engine families alone (what an engine process reports)."""
        own = generate_latest(self.registry)
        return b"".join(block for name, block in _families(own) if name in ENGINE_FAMILIES)

    def use_engine_exposition(self, exposition: bytes, source: int = 0) -> None:
        """Serve ``exposition`` (engine process ``source``'s :meth:`engine_families`) from now
        on, summed with the other engine processes' latest."""
        self._engine_expositions[source] = exposition


def merge_expositions(expositions: list[bytes]) -> bytes:
    """The engine families of several processes as one exposition: each sample summed over
    them (a ``_created`` sample: the earliest). Every process runs this code, so the families
    and their samples are the same but for label values one has seen and another not yet."""
    families: dict[str, tuple[list[bytes], dict[bytes, float]]] = {}
    for exposition in expositions:
        # By the name in HELP as it is (_families names a counter's _total and _created
        # blocks alike): each block keeps its own comments before its samples.
        for name, block in _blocks(exposition):
            comments, samples = families.setdefault(name, ([], {}))
            for line in block.splitlines():
                if not line:
                    continue
                if line.startswith(b"#"):
                    if line not in comments:
                        comments.append(line)
                    continue
                key, _, raw = line.rpartition(b" ")
                value = float(raw)
                if key not in samples:
                    samples[key] = value
                elif key.split(b"{", 1)[0].endswith(b"_created"):
                    samples[key] = min(samples[key], value)
                else:
                    samples[key] += value
    out: list[bytes] = []
    for comments, samples in families.values():
        out += comments
        out += [key + b" " + repr(value).encode("ascii") for key, value in samples.items()]
    return b"\n".join(out) + b"\n"


class AttemptTally(Collector):
    """``hookline_attempts`` (by outcome) and ``hookline_attempt_duration_seconds``, counted in
    plain ints and turned into the two families when scraped.

    prometheus_client's Counter and Histogram take a lock on every update; for the two
    updates of every attempt that was measured at ~2 % of the delivery engine's event loop.
    The engine's event loop records, and ``/metrics`` is answered on that loop too; a scrape
    from another thread would at worst see an attempt in one family and not yet in the other
    (it copies the outcomes first, so a new one cannot break it). No ``_created`` samples.
    """

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._outcomes: dict[str, int] = {}
        self._buckets = [0] * (len(bounds) + 1)  # the last: above every bound
        self._sum = 0.0

    def record(self, outcome: str, seconds: float) -> None:
        """One attempt that ended as ``outcome`` after ``seconds``."""
        self._outcomes[outcome] = self._outcomes.get(outcome, 0) + 1
        self._buckets[bisect_left(self._bounds, seconds)] += 1  # le: bound >= seconds
        self._sum += seconds

    def collect(self) -> Iterator[Metric]:
        counter = CounterMetricFamily(
            "hookline_attempts",
            "Delivery attempts by outcome (success, failure, refused).",
            labels=["outcome"],
        )
        for outcome, count in list(self._outcomes.items()):  # first seen first, as Counter does
            counter.add_metric([outcome], count)
        yield counter
        cumulative = list(accumulate(self._buckets))
        # repr() writes these bounds as prometheus_client does (it writes floats of 7 digits or
        # more before the point otherwise: none of ours).
        buckets = [(repr(float(b)), n) for b, n in zip(self._bounds, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        yield HistogramMetricFamily(
            "hookline_attempt_duration_seconds",
            "Wall time of one delivery attempt.",
            buckets=buckets,
            sum_value=self._sum,
        )


def _families(exposition: bytes) -> Iterator[tuple[str, bytes]]:
    """An exposition cut into families: (the metric's name, its lines). A counter comes as two
    (``<name>_total`` and ``<name>_created``), both named ``<name>`` here."""
    for name, block in _blocks(exposition):
        yield name.removesuffix("_total").removesuffix("_created"), block


def _blocks(exposition: bytes) -> Iterator[tuple[str, bytes]]:
    """An exposition cut at each ``# HELP`` line: (the name that line gives, its lines)."""
    for block in re.split(rb"(?m)^(?=# HELP )", exposition):
        if block.startswith(b"# HELP "):
            yield block.split(b" ", 3)[2].decode("ascii"), block
