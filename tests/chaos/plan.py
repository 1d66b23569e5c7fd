"""Which events go where: the routing the producer publishes and the checker expects.

Four webhooks share one secret; ``clientCuids`` routes the event of sequence number ``seq``:
every event goes to ``ok``; some also to ``flaky`` (first attempts misbehave), ``gone``
(410, final at once) or ``dead`` (500 until the last attempt).
"""

from __future__ import annotations

# webhook name -> the clientCuids it subscribes to ([] = every event)
WEBHOOKS: dict[str, list[str]] = {"ok": [], "flaky": ["flaky"], "gone": ["gone"], "dead": ["dead"]}
# endpoints whose deliveries must end succeeded; the others end failed
SUCCEEDING = frozenset({"ok", "flaky"})


def client_cuid(seq: int) -> str:
    if seq % 10 == 3:
        return "flaky"
    if seq % 50 == 7:
        return "gone"
    if seq % 50 == 9:
        return "dead"
    return "main"


def targets(cuid: str | None) -> list[str]:
    """The webhooks an event of ``cuid`` is delivered to."""
    return [name for name, cuids in WEBHOOKS.items() if not cuids or cuid in cuids]
