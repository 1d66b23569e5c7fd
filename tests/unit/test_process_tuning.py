"""run_process: the tuning a long-lived server process runs with."""

from __future__ import annotations

import gc
import sys

import pytest

from hookline.runtime import SWITCH_INTERVAL, run_process


def test_a_server_process_switches_threads_every_0_2_ms_and_collects_less_often() -> None:
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()

    async def seen() -> tuple[float, tuple[int, int, int]]:
        return sys.getswitchinterval(), gc.get_threshold()

    try:
        switch, collect = run_process(seen())
        assert switch == pytest.approx(SWITCH_INTERVAL)  # kept in whole microseconds
        assert collect == (50_000, 20, 100)
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    assert SWITCH_INTERVAL == 0.0002
