"""``serve`` on SQLite with its delivery engine in a child process (HOOKLINE_ENGINE_PROCESS).

The child is found as the one process whose parent is ``serve`` and whose command line runs
``hookline.engine_process``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tests.delivery.conftest import Receiver
from tests.docs.processes import delivery_processes
from tests.e2e.conftest import Api, Processes, base_env, free_port, received_events, wait_until

from hookline.signing import verify


async def the_child(serve: subprocess.Popen[bytes]) -> int:
    """The pid of ``serve``'s one delivery process, once there is one."""
    await wait_until(lambda: len(delivery_processes(serve.pid)) == 1, 10, "the child")
    (child,) = delivery_processes(serve.pid)
    return child


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def metrics(api: Api) -> str:
    with urllib.request.urlopen(api.base + "/metrics", timeout=10) as resp:  # noqa: S310
        return str(resp.read().decode())


def start(
    tmp_path: Path, processes: Processes, **extra: str
) -> tuple[Api, subprocess.Popen[bytes]]:
    port = free_port()
    env = base_env(
        f"sqlite:///{tmp_path / 'hookline.db'}",
        **{"HOOKLINE_PORT": str(port), "HOOKLINE_ENGINE_PROCESS": "on", **extra},
    )
    return Api(port), processes.start("serve", env)


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


async def test_the_child_delivers_signed_and_reports_metrics_and_readiness(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    api, serve = start(tmp_path, processes)
    await api.ready()
    await api.webhook(receiver.url())
    accepted = await api.publish(300)
    await wait_until(lambda: len(receiver.requests) >= 300, 30, "every event delivered")
    assert sorted(received_events(receiver)) == sorted(accepted)
    for request in receiver.requests:  # signed by the child with the webhook's secret
        assert verify("e2e-secret", request.body, request.headers["x-authorization-hmac-256"])

    children = delivery_processes(serve.pid)
    assert len(children) == 1
    status, ready = await api.acall("GET", "/readyz")
    assert status == 200
    assert ready["engine"] == "running", ready
    # The attempts counter is the child's, served by the API process (reported every second).
    await wait_until(
        lambda: 'hookline_attempts_total{outcome="success"} 300.0' in metrics(api),
        10,
        "the child's attempts in /metrics",
    )
    assert metrics(api).count("# HELP hookline_attempts_total") == 1


async def test_a_dead_child_is_replaced_and_delivery_goes_on(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    api, serve = start(tmp_path, processes)
    await api.ready()
    await api.webhook(receiver.url())
    first = await the_child(serve)
    os.kill(first, signal.SIGKILL)
    await wait_until(
        lambda: delivery_processes(serve.pid) not in ([], [first]), 15, "a second child"
    )
    accepted = await api.publish(50)
    await wait_until(
        lambda: set(received_events(receiver)) >= set(accepted), 30, "delivery after restart"
    )
    assert "the delivery process exited" in processes.logs()
    assert "Traceback" not in processes.logs()


async def test_the_child_exits_when_serve_is_killed(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    api, serve = start(tmp_path, processes)
    await api.ready()
    child = await the_child(serve)
    serve.send_signal(signal.SIGKILL)
    serve.wait(10)
    await wait_until(lambda: not alive(child), 10, "the orphaned child to exit")


async def test_sigterm_stops_both_in_order(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    receiver.reply(200, stall=0.3)  # attempts in flight when the signal lands
    api, serve = start(tmp_path, processes)
    await api.ready()
    await api.webhook(receiver.url())
    child = await the_child(serve)
    accepted = await api.publish(40)
    await wait_until(lambda: len(receiver.requests) >= 5, 20, "attempts in flight")
    assert processes.stop(serve) == 0
    assert not alive(child)
    logs = processes.logs()
    assert "Traceback" not in logs, logs
    assert "ERROR" not in logs, logs
    # What was in flight was recorded: after a restart, nothing of it is sent again early.
    sent_before = len(receiver.requests)
    api, serve = start(tmp_path, processes)
    await api.ready()
    await wait_until(
        lambda: set(received_events(receiver)) >= set(accepted), 30, "the rest delivered"
    )
    assert len(receiver.requests) == len(accepted), (sent_before, len(receiver.requests))


async def test_off_runs_the_engine_in_process(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    api, serve = start(tmp_path, processes, HOOKLINE_ENGINE_PROCESS="off")
    await api.ready()
    await api.webhook(receiver.url())
    accepted = await api.publish(20)
    await wait_until(lambda: len(receiver.requests) >= 20, 20, "delivery")
    assert sorted(received_events(receiver)) == sorted(accepted)
    assert delivery_processes(serve.pid) == []
    _, ready = await api.acall("GET", "/readyz")
    assert ready["engine"] == "running", ready


async def test_several_children_share_the_queue_and_stop_together(
    tmp_path: Path, processes: Processes, receiver: Receiver
) -> None:
    receiver.reply(200, stall=60)  # held until released: attempts stay in flight
    api, serve = start(
        tmp_path,
        processes,
        HOOKLINE_ENGINE_PROCESSES="2",
        HOOKLINE_WORKER_CONCURRENCY="8",  # 8 in flight per process, to one endpoint too
        HOOKLINE_DELIVERY_TIMEOUT="60",
    )
    await api.ready()
    await api.webhook(receiver.url())
    await wait_until(lambda: len(delivery_processes(serve.pid)) == 2, 10, "two children")
    children = delivery_processes(serve.pid)
    accepted = await api.publish(40)
    # One process holds at most 8 attempts in flight: 16 at once means both are sending.
    await wait_until(lambda: len(receiver.requests) >= 16, 20, "both children sending")
    assert len(receiver.requests) == 16
    receiver.released.set()
    await wait_until(lambda: len(receiver.requests) >= 40, 30, "every event delivered")
    # Each event once: the two claim from one store, never the same delivery.
    assert sorted(received_events(receiver)) == sorted(accepted)
    status, ready = await api.acall("GET", "/readyz")
    assert (status, ready["engine"]) == (200, "running"), ready
    # /metrics sums what the two report: one family, every attempt counted once.
    await wait_until(
        lambda: 'hookline_attempts_total{outcome="success"} 40.0' in metrics(api),
        10,
        "both children's attempts in /metrics",
    )
    assert metrics(api).count("# HELP hookline_attempts_total") == 1
    assert processes.stop(serve) == 0
    assert not any(alive(child) for child in children)
    logs = processes.logs()
    assert "Traceback" not in logs, logs
    assert "ERROR" not in logs, logs
