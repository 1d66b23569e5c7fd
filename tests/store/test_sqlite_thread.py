"""The SQLite store's thread: calls run one at a time, the two lanes taking turns."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hookline.store.sqlite_thread import SqliteThread


async def run_in_order(lanes: str) -> list[str]:
    """Queue one call per letter while the thread is held (``u``: urgent lane, ``n``: normal),
    then let it go; answers the calls in the order they ran."""
    thread = SqliteThread("test-sqlite")
    started, held, ran = threading.Event(), threading.Event(), []

    def hold() -> None:
        started.set()
        held.wait()

    try:
        first = thread.submit(hold)  # the thread is busy until this returns
        assert await asyncio.to_thread(started.wait, 10)
        futures = [
            thread.submit(lambda name=f"{lane}{i}": ran.append(name), urgent=lane == "u")
            for i, lane in enumerate(lanes)
        ]
        held.set()
        await asyncio.gather(first, *futures)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
    return ran


async def test_with_both_lanes_waiting_they_take_turns_urgent_first() -> None:
    # (The call that held the thread was a normal one: the urgent lane's turn is next.)
    ran = await run_in_order("nnnuuu" + "u")
    assert ran == ["u3", "n0", "u4", "n1", "u5", "n2", "u6"]


async def test_a_lane_alone_runs_in_the_order_of_its_calls() -> None:
    assert await run_in_order("uuu") == ["u0", "u1", "u2"]
    assert await run_in_order("nnn") == ["n0", "n1", "n2"]


async def test_an_error_goes_to_its_caller_only_and_shutdown_finishes_what_is_queued() -> None:
    thread = SqliteThread("test-sqlite")

    def fail() -> None:
        raise ValueError("bad call")

    failing = thread.submit(fail, urgent=True)
    fine = thread.submit(lambda: 42)
    await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
    with pytest.raises(ValueError, match="bad call"):
        await failing
    assert await fine == 42
    with pytest.raises(RuntimeError, match="closed"):
        thread.submit(lambda: 1)
