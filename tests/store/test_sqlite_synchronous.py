"""SQLite's ``synchronous`` setting: every commit that answers a caller (a publish, an API
write) is made with ``FULL``, the delivery engine's with ``NORMAL``; the setting is switched
only when the two kinds of write take turns (each switch is a statement)."""

from __future__ import annotations

from tests.store.test_queue_contract import add_tenant, add_webhook, claim, new_event, outcome

from hookline.domain.deliveries import DeliveryStatus
from hookline.domain.times import utcnow
from hookline.store.sqlite import SqliteStore


def commits_by_setting(statements: list[str]) -> list[tuple[str, str]]:
    """(the setting in force, the transaction's first statement) for every commit: a COMMIT,
    or a write outside any transaction (its own)."""
    setting, first, in_transaction, seen = "FULL", "", False, []
    for statement in statements:
        lines = [line for line in statement.splitlines() if not line.lstrip().startswith("--")]
        text = " ".join(" ".join(lines).split())
        if text.startswith("PRAGMA synchronous"):
            setting = text.rsplit(" ", 1)[1]
        elif text.startswith("BEGIN"):
            first, in_transaction = "", True
        elif text == "COMMIT":
            seen.append((setting, first))
            in_transaction = False
        elif not in_transaction and text.startswith(("INSERT", "UPDATE", "DELETE")):
            seen.append((setting, text[:40]))
        elif not first and not text.startswith(("SAVEPOINT", "RELEASE")):
            first = text[:40]
    return seen


async def test_callers_commits_are_full_and_the_engines_normal_switching_only_at_turns(
    sqlite_store: SqliteStore,
) -> None:
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    statements: list[str] = []
    assert sqlite_store._conn is not None
    sqlite_store._conn.set_trace_callback(statements.append)
    t0 = utcnow()
    await sqlite_store.publish([new_event(tenant, at=t0) for _ in range(3)], None, t0)
    first = await claim(sqlite_store, t0, limit=1)
    second = await claim(sqlite_store, t0, limit=1)  # engine after engine: no switch
    await sqlite_store.complete(
        [outcome(c, DeliveryStatus.SUCCEEDED, at=t0) for c in first + second], t0
    )
    await sqlite_store.set_tenant_enabled(tenant.id, True)  # an API write
    await sqlite_store.publish([new_event(tenant, at=t0)], None, t0)
    sqlite_store._conn.set_trace_callback(None)

    commits = commits_by_setting(statements)
    assert [setting for setting, _ in commits] == [
        "FULL",  # the publish
        "NORMAL",  # claim
        "NORMAL",  # claim
        "NORMAL",  # completion
        "FULL",  # the API's write (one statement, its own transaction)
        "FULL",  # the publish
    ], commits
    assert commits[0][1].startswith("INSERT INTO events")
    assert commits[-1][1].startswith("INSERT INTO events")
    switches = [s for s in statements if s.startswith("PRAGMA synchronous")]
    assert switches == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"]
