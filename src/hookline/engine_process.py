"""``serve``'s delivery engine in a child process (``HOOKLINE_ENGINE_PROCESS=on``).

The parent (the API process, which owns the SQLite file) starts ``python -m
hookline.engine_process FD`` with one end of a socketpair, sends it the settings, and answers
its queue calls (:mod:`hookline.delivery.link`). The child signs, sends and decides retries,
exactly as the in-process engine does; it never opens the database. With
``HOOKLINE_ENGINE_PROCESSES=N`` the parent starts N children, each with its own
:class:`EngineProcess`, socket and slots; they claim from the one store, so they never hold the
same delivery, and ``/metrics`` sums what they report.

Lifecycle:

* the parent restarts a child that dies (after a second), so delivery goes on; what the dead
  child had leased is claimed again when its leases expire (at-least-once, never lost);
* stopping ``serve`` (SIGTERM, Ctrl-C) stops the child the same way, and the parent keeps
  answering until the child has recorded its attempts in flight and exited;
* a child whose parent is gone (killed) exits at once: it cannot record anything any more,
  and the next ``serve`` re-claims its deliveries when their leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial

from hookline.config import Settings
from hookline.delivery.link import QueueServer, RemoteQueue, read_frame, write_frame
from hookline.metrics import Metrics
from hookline.store.base import DeliveryQueue

log = logging.getLogger("hookline.engine")

RESTART_DELAY = 1.0  # seconds between a child's death and its successor
METRICS_INTERVAL = 1.0  # how often the child reports its engine metrics
STOP_GRACE = 15.0  # beyond the delivery timeout, for a stopping child to record and exit


class EngineProcess:
    """The parent's handle on the child: starts it, answers it, restarts it, stops it."""

    def __init__(
        self,
        settings: Settings,
        queue: DeliveryQueue,
        metrics: Metrics,
        index: int = 0,
        count: int = 1,
    ) -> None:
        self._settings = settings
        self._server = QueueServer(queue, partial(metrics.use_engine_exposition, source=index))
        # How its log lines name it: "the delivery process", or "delivery process 2 of 3".
        self.name = (
            "the delivery process" if count == 1 else f"delivery process {index + 1} of {count}"
        )
        self._stopping = asyncio.Event()
        self._child: asyncio.subprocess.Process | None = None
        self.running = False

    async def run(self) -> None:
        """Keep a child running until :meth:`stop`; returns once the last one has exited."""
        while not self._stopping.is_set():
            try:
                code = await self._run_child()
            except Exception:  # never leave serve without delivery over one bad start
                log.exception("%s failed", self.name)
                code = None
            if self._stopping.is_set():
                return
            # Exit 0 is a child stopped by a signal of someone else's (a supervisor's stop that
            # reached the whole group); anything else is a crash.
            report = log.warning if code == 0 else log.error
            report("%s exited (code %s); starting another", self.name, code)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RESTART_DELAY)

    def stop(self) -> None:
        """Ask the child to stop claiming, record its attempts in flight, and exit."""
        self._stopping.set()
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    async def _run_child(self) -> int | None:
        ours, theirs = socket.socketpair()
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hookline.engine_process",
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                # Its own session: a signal to serve's process group (Ctrl-C, a supervisor)
                # reaches serve alone, which stops the child in order (see stop()).
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            log.error("cannot start %s: %s", self.name, exc.strerror or exc)
            return None
        finally:
            theirs.close()
        self._child = child
        if self._stopping.is_set():  # stop() came while it was starting
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            level = logging.getLevelName(logging.getLogger("hookline").getEffectiveLevel())
            write_frame(writer, (self._settings, str(level).lower()))
            self.running = True
            await self._server.serve(reader, writer)  # until the child's end closes
        finally:
            self.running = False
            if writer is not None:
                writer.close()
            else:
                ours.close()  # the child reads the end of its socket and exits
            code = await self._reap(child)
            self._child = None
        return code

    async def _reap(self, child: asyncio.subprocess.Process) -> int:
        grace = self._settings.delivery_timeout + STOP_GRACE
        try:
            return await asyncio.wait_for(child.wait(), grace)
        except TimeoutError:
            log.error("%s did not exit within %.0f s; killing it", self.name, grace)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            return await child.wait()


# -- the child ------------------------------------------------------------------------------------
async def _child(fd: int) -> None:
    from hookline.delivery import ssrf
    from hookline.observability import setup_logging
    from hookline.runtime import make_engine, make_sender, resolve_secret_key
    from hookline.secretbox import SecretBox

    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    try:
        settings, level = await read_frame(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the parent went away before it said anything
    from hookline.cli.options import secrets_of

    setup_logging(level, secrets=secrets_of(settings))
    queue = RemoteQueue(reader, writer, on_lost=_parent_gone)
    metrics = Metrics()
    sender = make_sender(settings, ssrf.system_resolver, limit=settings.worker_concurrency)
    box = SecretBox(resolve_secret_key(settings))
    engine = make_engine(settings, queue, sender, box, metrics)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.stop)
    queue.start()
    reporter = asyncio.create_task(_report_metrics(queue.push_metrics, metrics))
    try:
        await engine.run()
    finally:
        reporter.cancel()
        with contextlib.suppress(Exception):
            await queue.push_metrics(metrics.engine_families())  # the final counts
        await sender.close()
        await queue.close()


async def _report_metrics(push: Callable[[bytes], Awaitable[None]], metrics: Metrics) -> None:
    while True:
        with contextlib.suppress(Exception):  # the parent gone: on_lost ends the process
            await push(metrics.engine_families())
        await asyncio.sleep(METRICS_INTERVAL)


def _parent_gone() -> None:
    # Nothing can be recorded any more: stop now rather than send what cannot be completed.
    log.warning("the Hookline process that owns the store is gone; the delivery process exits")
    logging.shutdown()
    os._exit(0)


def main() -> None:
    """``python -m hookline.engine_process FD`` (started by ``serve``, not by hand)."""
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("hookline.engine_process is started by `hookline serve`", file=sys.stderr)
        raise SystemExit(2)
    from hookline.runtime import run_process

    # Until the engine's handlers are in, a stray SIGINT must not print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run_process(_child(int(sys.argv[1])))


if __name__ == "__main__":
    main()
