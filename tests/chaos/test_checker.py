"""The checker itself: each invariant it guards really fails on a run that breaks it."""

from __future__ import annotations

from typing import Any

from tests.chaos.checker import DbState, Verdict, check

MAX_ATTEMPTS = 3


def published(seq: int, event: str, cuid: str = "main", deliveries: int = 1) -> dict[str, Any]:
    return {"t": 1.0, "seq": seq, "key": f"k{seq}", "cuid": cuid, "event": event,
            "deliveries": deliveries}  # fmt: skip


def receipt(event: str, seq: int, t: float, delivery: str = "d1", **extra: Any) -> dict[str, Any]:
    base = {"t": t, "path": "/ok", "delivery": delivery, "attempt": 1, "event": event,
            "seq": seq, "sig": True, "sha": "abc", "answer": "200"}  # fmt: skip
    return {**base, **extra}


def store(*deliveries: tuple[str, str, str, str, int], logs: Any = None) -> DbState:
    rows = [dict(zip(("id", "event", "webhook", "status", "attempts"), d, strict=True))
            for d in deliveries]  # fmt: skip
    if logs is None:
        logs = [
            {"delivery": d[0], "attempt": 1, "success": d[3] == "succeeded"} for d in deliveries
        ]
    return DbState(events={d[1] for d in deliveries}, deliveries=rows, logs=logs, integrity=[])


def run(
    pubs: list[dict[str, Any]], receipts: list[dict[str, Any]], db: DbState, faults: Any = ()
) -> Verdict:
    return check(pubs, receipts, list(faults), db, MAX_ATTEMPTS)


def test_a_clean_run_passes() -> None:
    verdict = run(
        [published(0, "e1")], [receipt("e1", 0, 5.0)], store(("d1", "e1", "ok", "succeeded", 1))
    )
    assert verdict.violations == []
    assert verdict.figures["lost"] == 0


def test_an_accepted_event_never_received_is_lost() -> None:
    verdict = run([published(0, "e1")], [], store(("d1", "e1", "ok", "succeeded", 1)))
    assert verdict.figures["lost"] == 1
    assert any(v.startswith("LOST") for v in verdict.violations)


def test_a_receipt_without_publish_or_signature_is_phantom() -> None:
    receipts = [receipt("e1", 0, 5.0), receipt("e9", 9, 5.0, delivery="d9"),
                receipt("e1", 0, 6.0, sig=False)]  # fmt: skip
    verdict = run([published(0, "e1")], receipts, store(("d1", "e1", "ok", "succeeded", 1)))
    assert verdict.figures["phantom"] == 2


def test_a_duplicate_needs_a_fault_in_its_window() -> None:
    pubs, db = [published(0, "e1")], store(("d1", "e1", "ok", "succeeded", 1))
    twice = [receipt("e1", 0, 5.0), receipt("e1", 0, 20.0, attempt=2)]
    assert run(pubs, twice, db).figures["unexplained"] == 1
    before = [{"kind": "kill_serve", "start": 1.0, "end": 4.0}]
    assert run(pubs, twice, db, before).figures["unexplained"] == 1
    graceful = [{"kind": "term_serve", "start": 6.0, "end": 7.0}]
    assert run(pubs, twice, db, graceful).figures["unexplained"] == 1
    just_before = [{"kind": "sqlite_lock", "start": 1.0, "end": 4.9}]
    assert run(pubs, twice, db, just_before).figures["unexplained"] == 1
    # Requests stalled by a blackhole reach the sink just after it is lifted.
    released = [{"kind": "sink_blackhole", "start": 1.0, "end": 4.5}]
    assert run(pubs, twice, db, released).duplicates_by_cause == {"sink_blackhole": 1}
    kill = [{"kind": "kill_serve", "start": 6.0, "end": 7.0}]
    verdict = run(pubs, twice, db, kill)
    assert verdict.violations == []
    assert verdict.duplicates_by_cause == {"kill_serve": 1}


def test_a_changed_body_or_a_missing_final_state_is_reported() -> None:
    pubs = [published(0, "e1"), published(7, "e2", "gone", 2)]
    receipts = [receipt("e1", 0, 5.0, answer="500"), receipt("e1", 0, 6.0, sha="other", attempt=2),
                receipt("e2", 7, 5.0, delivery="d2"), receipt("e2", 7, 5.0, delivery="d3",
                path="/gone", answer="410")]  # fmt: skip
    db = store(("d1", "e1", "ok", "succeeded", 2), ("d2", "e2", "ok", "succeeded", 1),
               ("d3", "e2", "gone", "pending", 1))  # fmt: skip
    verdict = run(pubs, receipts, db)
    assert any("body or delivery id changed" in v for v in verdict.violations)
    assert verdict.figures["lost"] == 1  # the 410 delivery never ended failed
    assert any("not drained" in v for v in verdict.violations)


def test_the_attempt_log_must_match_the_receipts() -> None:
    logs = [{"delivery": "d1", "attempt": 2, "success": True}]
    db = store(("d1", "e1", "ok", "succeeded", 2), logs=logs)
    verdict = run([published(0, "e1")], [receipt("e1", 0, 5.0)], db)
    assert any("never acknowledged" in v for v in verdict.violations)
    assert any("more attempts than logs" in v for v in verdict.violations)
