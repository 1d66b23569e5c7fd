"""The offline checker: the invariants, from the producer's and the sink's journals (the
database only confirms, and is checked for integrity itself).

Duplicate window, precisely: a delivery id's acknowledged receipts (the sink answered 200) in
time order R1, R2, ...; each Rk after the first is explained by a fault F of a kind in
``EXPLAINS_DUPLICATES`` when ``F.start <= Rk.t + EPS`` and ``F.end >= R(k-1).t - EPS``: the
fault was under way at some moment between the previous acknowledgement (whose completion it
could have stopped from being written, or whose answer it could have eaten) and the duplicate.
A graceful SIGTERM explains nothing: in-flight attempts finish and are recorded.

One exception to stamping a receipt with the moment the sink read it: a request stalled by a
blackhole in front of the sink reaches the sink only when the blackhole is lifted, after
Hookline gave up on it; for that fault the window opens ``SINK_RELEASE`` seconds before R(k-1).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.controller import EXPLAINS_DUPLICATES
from tests.chaos.plan import SUCCEEDING, targets

EPS = 0.05  # seconds: the sink stamps a receipt just before the attempt's answer leaves
SINK_RELEASE = 1.0  # seconds: stalled requests reach the sink this soon after a blackhole ends


def slack(kind: str) -> float:
    return SINK_RELEASE if kind == "sink_blackhole" else EPS


@dataclass
class DbState:
    """What the store says after the run (read directly from the database)."""

    events: set[str]
    deliveries: list[dict[str, Any]]  # id, event, webhook (name), status, attempts
    logs: list[dict[str, Any]]  # delivery, attempt, success
    integrity: list[str]  # problems found by the integrity check (empty = fine)
    integrity_checks: str = ""  # which checks ran


@dataclass
class Verdict:
    figures: dict[str, Any] = field(default_factory=dict)
    duplicates_by_cause: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def fail(self, what: str, examples: list[Any]) -> None:
        if examples:
            self.violations.append(f"{what}: {len(examples)}, e.g. {examples[:3]}")


def name_of(path: str) -> str:
    return path.strip("/")


def check(
    published: list[dict[str, Any]],
    receipts: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    db: DbState,
    max_attempts: int,
) -> Verdict:
    verdict = Verdict()
    accepted = {r["event"]: r for r in published if "event" in r}
    verdict.fail("publishes rejected", [r for r in published if "rejected" in r])
    seqs = Counter(r["seq"] for r in accepted.values())
    verdict.fail(
        "one sequence number, two events (idempotency)", [s for s, n in seqs.items() if n > 1]
    )
    expected: set[tuple[str, str]] = set()
    for event, record in accepted.items():
        names = targets(record["cuid"])
        expected.update((event, name) for name in names)
        if record["deliveries"] != len(names):
            verdict.fail("202 with a wrong delivery count", [record])
    verdict.fail("events stored that no 202 announced", sorted(db.events - set(accepted)))
    verdict.fail("accepted events missing from the store", sorted(set(accepted) - db.events))

    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    phantom = []
    for r in receipts:
        pair = (r["event"], name_of(r["path"]))
        record = accepted.get(r["event"])
        if pair not in expected or record is None or record["seq"] != r["seq"] or not r["sig"]:
            phantom.append(r)
        else:
            by_pair[pair].append(r)
    verdict.fail("phantom receipts (no publish, wrong endpoint or bad signature)", phantom)

    stored = {(d["event"], d["webhook"]): d for d in db.deliveries}
    pair_counts = Counter((d["event"], d["webhook"]) for d in db.deliveries)
    verdict.fail("extra deliveries for one pair", [p for p, n in pair_counts.items() if n > 1])
    lost, wrong_state, changed = [], [], []
    for pair in sorted(expected):
        got, delivery = by_pair.get(pair, []), stored.get(pair)
        if len({r["delivery"] for r in got}) > 1 or len({r["sha"] for r in got}) > 1:
            changed.append(pair)
        if delivery is not None and any(r["delivery"] != delivery["id"] for r in got):
            changed.append(pair)
        if pair[1] in SUCCEEDING:
            if not any(r["answer"] == "200" for r in got):
                lost.append(pair)
            elif delivery is None or delivery["status"] != "succeeded":
                wrong_state.append((pair, delivery))
        elif not got or delivery is None or delivery["status"] != "failed":
            lost.append(pair)
        elif pair[1] == "dead" and delivery["attempts"] != max_attempts:
            wrong_state.append((pair, delivery))
    verdict.fail("LOST (expected delivery never received / never logged as failed)", lost)
    verdict.fail("final state disagrees with the receipts", wrong_state)
    verdict.fail("body or delivery id changed between attempts", changed)

    unexplained = []
    for got in by_pair.values():
        acked = sorted((r for r in got if r["answer"] == "200"), key=lambda r: r["t"])
        for previous, again in itertools.pairwise(acked):
            causes = sorted(
                (f for f in faults if f["kind"] in EXPLAINS_DUPLICATES
                 and f["start"] <= again["t"] + EPS
                 and f["end"] >= previous["t"] - slack(f["kind"])),
                key=lambda f: f["start"],
            )  # fmt: skip
            if causes:
                verdict.duplicates_by_cause[causes[0]["kind"]] += 1
            else:
                unexplained.append((again["delivery"], previous["t"], again["t"]))
    verdict.fail("UNEXPLAINED duplicate receipts", unexplained)

    check_logs(verdict, db, receipts)
    verdict.fail(
        "not drained", [d for d in db.deliveries if d["status"] in ("pending", "delivering")]
    )
    verdict.fail("integrity check", db.integrity)
    verdict.figures.update(
        events=len(accepted),
        deliveries=len(expected),
        receipts=len(receipts),
        lost=len(lost),
        phantom=len(phantom),
        unexplained=len(unexplained),
        duplicates=sum(verdict.duplicates_by_cause.values()),
    )
    return verdict


def check_logs(verdict: Verdict, db: DbState, receipts: list[dict[str, Any]]) -> None:
    """The attempt log against the receipts: a logged success is a receipt the sink
    acknowledged; a succeeded delivery has a logged success; no delivery counts more attempts
    than it has logs."""
    acked = {(r["delivery"], r["attempt"]) for r in receipts if r["answer"] == "200"}
    logs_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for log in db.logs:
        logs_of[log["delivery"]].append(log)
    verdict.fail(
        "logged successes the sink never acknowledged",
        [
            log
            for log in db.logs
            if log["success"] and (log["delivery"], log["attempt"]) not in acked
        ],
    )
    verdict.fail(
        "succeeded deliveries without a logged success",
        [d["id"] for d in db.deliveries
         if d["status"] == "succeeded" and not any(lg["success"] for lg in logs_of[d["id"]])],
    )  # fmt: skip
    verdict.fail(
        "deliveries counting more attempts than logs",
        [d["id"] for d in db.deliveries if d["attempts"] > len(logs_of[d["id"]])],
    )
    known = {d["id"] for d in db.deliveries}
    verdict.fail("receipts of deliveries the store does not know", [
        r["delivery"] for r in receipts if r["delivery"] not in known
    ])  # fmt: skip
