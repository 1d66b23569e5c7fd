"""PostgreSQL: one ``api`` and two ``worker`` processes share the queue."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import Api, Processes, base_env, free_port, received_events, wait_until

pytestmark = pytest.mark.postgres


async def test_two_workers_deliver_everything_once(
    postgres_url: str, tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    port = free_port()
    env = base_env(postgres_url, HOOKLINE_PORT=str(port), HOOKLINE_WORKER_CONCURRENCY="64")
    api = Api(port)
    api_proc = processes.start("api", env)
    await api.ready()
    workers = [processes.start("worker", env) for _ in range(2)]
    await api.webhook(receiver.url())
    accepted = await api.publish(3000)
    await wait_until(
        lambda: len(set(received_events(receiver))) >= len(accepted), 90, "all deliveries"
    )
    receipts = Counter(received_events(receiver))
    assert set(receipts) == set(accepted)
    assert max(receipts.values()) == 1, "a delivery was sent twice although nothing failed"
    status, body = await api.acall("GET", "/api/internal/deliveries?status=succeeded&limit=1")
    assert status == 200, body
    assert body["data"], body
    for proc in [*workers, api_proc]:
        assert processes.stop(proc, signal.SIGTERM) == 0, processes.logs()
