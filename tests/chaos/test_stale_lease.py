"""Found by the long chaos run (fixed): a store that stalled for longer than a lease made the
engine send one delivery twice although nothing crashed and the stall was over before both sends.

The claim loop reads the clock, computes ``lease_until = now + timeout + slack`` and only then
calls ``store.claim_due``; when that call waits out a stall (an SQLite lock within the 10 s
busy timeout, a PostgreSQL connection that stalls), the lease it grants has already expired,
so the very next claim took the same delivery again and both were sent. The engine now gives
such a claim back. Reproduction: an exclusive lock held for 9 s (lease 7 s) while deliveries to
a slow endpoint are due.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import httpx
from tests.chaos import records
from tests.chaos.controller import hold_exclusive_lock
from tests.chaos.scenario import SECRET, python_module, wait_drained
from tests.chaos.stack import DELIVERY_TIMEOUT, LEASE, Stack
from tests.docs.processes import ADMIN_KEY, free_port

LOCK = LEASE + 2.0  # longer than a lease, shorter than SQLite's 10 s busy timeout


def test_a_stall_longer_than_a_lease_does_not_send_a_delivery_twice(tmp_path: Path) -> None:
    sink_port = free_port()
    sink = python_module(
        "tests.chaos.sink", "--port", str(sink_port), "--journal", str(tmp_path / "sink.jsonl"),
        "--secret", SECRET, "--timeout", str(DELIVERY_TIMEOUT), cwd=tmp_path, name="sink",
    )  # fmt: skip
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'hookline.db'}", sqlite=True)
    try:
        stack.start_all()
        api = httpx.Client(base_url=stack.base, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        with api:
            hook = {"name": "slow", "url": f"http://127.0.0.1:{sink_port}/slow",
                    "events": ["ReportPublished"], "secret": SECRET}  # fmt: skip
            assert api.post("/api/internal/webhooks", json=hook).status_code == 201
            events = [{"event": "ReportPublished", "data": {"seq": i}} for i in range(400)]
            answer = api.post("/api/internal/events/batch", json={"events": events}, timeout=30)
            assert answer.status_code == 202, answer.text
        time.sleep(1.0)  # deliveries in flight, more due
        hold_exclusive_lock(tmp_path / "hookline.db", LOCK)
        lock_end = time.time()
        assert asyncio.run(wait_drained(stack.base, 120)), "backlog did not drain"
        assert stack.stop_all() == {"serve0": 0}
    finally:
        stack.stop_all()
        sink.stop()
    acked: dict[str, list[float]] = defaultdict(list)
    for receipt in records.read(tmp_path / "sink.jsonl"):
        if receipt["answer"] == "200":
            acked[receipt["delivery"]].append(receipt["t"])
    assert len(acked) == 400
    # A duplicate whose first send came after the stall ended has no fault to explain it.
    twice_after = [d for d, times in acked.items() if len(times) > 1 and min(times) > lock_end]
    assert twice_after == []
