"""The producer: publishes events, each with its own ``Idempotency-Key`` and sequence number,
and journals every 202 (fsync) before counting the event as accepted.

``python -m tests.chaos.producer --base URL --key ADMIN --count N --rate R --journal FILE``.
A publish whose outcome is unknown (connection error, timeout, 5xx) is retried with the same
key until it gets its 202: the key makes the retry safe. Anything else is journalled as
``rejected`` (the checker fails on it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path

import httpx
from tests.chaos.plan import client_cuid
from tests.chaos.records import Journal

RETRY_PAUSE = 0.2


class Producer:
    def __init__(self, args: argparse.Namespace, journal: Journal) -> None:
        self.args = args
        self.journal = journal
        self.next_seq = 0
        self.started = time.monotonic()

    async def publish(self, client: httpx.AsyncClient, seq: int) -> None:
        cuid = client_cuid(seq)
        key = f"chaos-{self.args.run}-{seq}"
        body = {"event": "ReportPublished", "clientCuid": cuid, "data": {"seq": seq}}
        tries = 0
        refused: dict[str, int] = {}  # answers before the 202: status (or "conn") -> count
        while True:
            tries += 1
            try:
                answer = await client.post(
                    "/api/internal/events", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError:
                refused["conn"] = refused.get("conn", 0) + 1
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if answer.status_code == 202:
                result = answer.json()
                record = {"t": time.time(), "seq": seq, "key": key, "cuid": cuid}
                record.update(event=result["id"], deliveries=result["deliveries"], tries=tries)
                record.update(refused=refused)
                await self.journal.append(record)
                return
            if answer.status_code >= 500 or answer.status_code == 429:
                status = str(answer.status_code)
                refused[status] = refused.get(status, 0) + 1
                await asyncio.sleep(RETRY_PAUSE)
                continue
            await self.journal.append(
                {"t": time.time(), "seq": seq, "key": key, "rejected": answer.status_code}
            )
            return

    async def lane(self, client: httpx.AsyncClient) -> None:
        while self.next_seq < self.args.count:
            seq = self.next_seq
            self.next_seq += 1
            due = self.started + seq / self.args.rate
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await self.publish(client, seq)


async def main(args: argparse.Namespace) -> None:
    journal = Journal(Path(args.journal))
    producer = Producer(args, journal)
    headers = {"Authorization": f"Bearer {args.key}"}
    limits = httpx.Limits(max_connections=args.lanes)
    async with httpx.AsyncClient(
        base_url=args.base, headers=headers, timeout=10, limits=limits, trust_env=False
    ) as client:
        await asyncio.gather(*(producer.lane(client) for _ in range(args.lanes)))
    journal.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--journal", required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
