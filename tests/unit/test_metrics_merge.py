"""The engine process's metrics take the place of the API process's own engine families."""

from __future__ import annotations

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
