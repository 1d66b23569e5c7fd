"""The engine process's metrics take the place of the API process's own engine families."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hookline.metrics import ENGINE_FAMILIES, Metrics


def help_lines(exposition: bytes) -> list[str]:
    return [line for line in exposition.decode().splitlines() if line.startswith("# HELP ")]


def families(exposition: bytes) -> set[str]:
    return {
        line.split()[2].removesuffix("_total").removesuffix("_created")
        for line in help_lines(exposition)
    }


def test_engine_families_are_only_the_engines() -> None:
    child = Metrics()
    for _ in range(3):
        child.attempts.record("success", 0.01)
    child.events_published.inc()
    reported = child.engine_families()
    assert b'hookline_attempts_total{outcome="success"} 3.0' in reported
    assert b"hookline_events_published" not in reported
    names = {
        line.split()[2].removesuffix("_total").removesuffix("_created")
        for line in help_lines(reported)
    }
    assert names == ENGINE_FAMILIES


def test_a_reported_exposition_replaces_the_api_process_engine_families() -> None:
    child = Metrics()
    for _ in range(2):
        child.attempts.record("failure", 0.5)
    parent = Metrics()
    parent.events_published.inc(5)
    before = parent.render()
    assert b'outcome="failure"' not in before
    parent.use_engine_exposition(child.engine_families())
    after = parent.render()
    assert b'hookline_attempts_total{outcome="failure"} 2.0' in after
    assert b"hookline_events_published_total 5.0" in after
    assert help_lines(after).count(help_lines(child.engine_families())[0]) == 1
    assert families(after) == families(before)  # nothing lost
    assert len(help_lines(after)) == len(set(help_lines(after)))  # nothing twice


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, as a strict parser reads it (a family split in two would fail here)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


def test_several_engine_processes_are_summed_each_by_its_latest_report() -> None:
    first, second = Metrics(), Metrics()
    first.attempts.record("success", 0.01)
    first.leases_lost.inc(2)
    first.in_flight.set(3)
    second.attempts.record("success", 0.2)
    second.attempts.record("refused", 0.2)  # an outcome the first has not seen
    second.in_flight.set(4)
    parent = Metrics()
    parent.use_engine_exposition(first.engine_families(), source=0)
    parent.use_engine_exposition(second.engine_families(), source=1)
    merged = samples(parent.render())
    assert merged[("hookline_attempts_total", (("outcome", "success"),))] == 2
    assert merged[("hookline_attempts_total", (("outcome", "refused"),))] == 1
    assert merged[("hookline_attempt_duration_seconds_count", ())] == 3
    assert merged[("hookline_attempt_duration_seconds_bucket", (("le", "0.01"),))] == 1
    assert merged[("hookline_attempt_duration_seconds_bucket", (("le", "0.25"),))] == 3
    assert merged[("hookline_deliveries_in_flight", ())] == 7
    assert merged[("hookline_leases_lost_total", ())] == 2
    created = samples(first.engine_families())[("hookline_leases_lost_created", ())]
    assert merged[("hookline_leases_lost_created", ())] == created  # the earliest, not a sum
    help_of = help_lines(parent.render())
    assert len(help_of) == len(set(help_of))
    # A later report of a process replaces its earlier one, the other's stays counted.
    second.attempts.record("success", 0.01)
    parent.use_engine_exposition(second.engine_families(), source=1)
    assert samples(parent.render())[("hookline_attempts_total", (("outcome", "success"),))] == 3
