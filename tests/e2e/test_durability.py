"""Nothing accepted is lost: ``hookline serve`` killed with SIGKILL mid-delivery, restarted."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from tests.delivery.conftest import Receiver
from tests.e2e.conftest import Api, Processes, base_env, free_port, received_events, wait_until


async def test_sigkill_during_delivery_loses_nothing(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    receiver.reply(200, stall=0.1)  # keep attempts in flight when the kill lands
    port = free_port()
    env = base_env(
        f"sqlite:///{tmp_path / 'hookline.db'}",
        HOOKLINE_PORT=str(port),
        HOOKLINE_DELIVERY_TIMEOUT="2",
        HOOKLINE_WORKER_CONCURRENCY="16",
    )
    api = Api(port)
    serve = processes.start("serve", env)
    await api.ready()
    await api.webhook(receiver.url())
    accepted = await api.publish(200)
    await wait_until(lambda: len(receiver.requests) >= 40, 20, "deliveries to start")
    serve.send_signal(signal.SIGKILL)
    serve.wait(10)
    killed_at = time.time()
    before_kill = Counter(received_events(receiver))

    processes.start("serve", env)
    await api.ready()
    await wait_until(
        lambda: set(received_events(receiver)) >= set(accepted), 60, "every event delivered"
    )
    receipts = Counter(received_events(receiver))
    assert set(receipts) == set(accepted)  # no phantom, none lost
    duplicated = {event for event, n in receipts.items() if n > 1}
    # A duplicate is only an attempt that was in flight when the process died.
    assert duplicated <= set(before_kill), (duplicated - set(before_kill), killed_at)
    assert len(duplicated) <= 16
