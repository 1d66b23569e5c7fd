"""The history's list queries hold only the filters a caller gave.

Written once for every combination, ``(:webhook_id IS NULL OR webhook_id = :webhook_id)``, a
list query hides from the planner which index fits: SQLite then always walked the tenant's
index newest first and read the tenant's whole history to fill a page of a quiet webhook's
logs (0.3-0.4 s at a million rows, with the store's one thread held, so publishing and delivery
stalled too), and PostgreSQL's generic plans can do the same. With only the filters given in
the text, both pick ``(tenant_id, webhook_id, id)``, ``(tenant_id, event_id, id)`` or
``(delivery_id, attempt)`` when those are filtered on.

A query's text in ``queries/<dialect>.sql`` carries :data:`MARKER` where the filters go; each
becomes ``AND <column> <operator> <placeholder>``. The values stay the caller's to convert (the
two stores keep times and flags differently).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookline.store.base import DeliveryFilter, LogFilter

MARKER = "/* filters */"


@dataclass(frozen=True)
class Term:
    """One filter that was given: ``column operator value``; ``name`` is its parameter."""

    name: str
    column: str
    operator: str
    value: Any


def log_terms(
    query: LogFilter, *, time: Callable[[datetime], Any], flag: Callable[[bool], Any]
) -> list[Term]:
    """The filters of an attempt-log query that were given."""
    terms = [
        Term("webhook_id", "webhook_id", "=", query.webhook_id),
        Term("event", "event", "=", query.event),
        Term("event_id", "event_id", "=", query.event_id),
        Term("delivery_id", "delivery_id", "=", query.delivery_id),
        Term("success", "success", "=", None if query.success is None else flag(query.success)),
        Term("trigger", "trigger", "=", None if query.trigger is None else query.trigger.value),
        Term("since", "created_at", ">=", None if query.since is None else time(query.since)),
        Term("until", "created_at", "<=", None if query.until is None else time(query.until)),
        Term("before_id", "id", "<", query.before_id),
    ]
    return [term for term in terms if term.value is not None]


def delivery_terms(query: DeliveryFilter) -> list[Term]:
    """The filters of a deliveries query that were given."""
    terms = [
        Term("webhook_id", "webhook_id", "=", query.webhook_id),
        Term("event_id", "event_id", "=", query.event_id),
        Term("status", "status", "=", None if query.status is None else query.status.value),
        Term("before_id", "id", "<", query.before_id),
    ]
    return [term for term in terms if term.value is not None]


def with_terms(sql: str, terms: Sequence[Term], placeholder: Callable[[int, Term], str]) -> str:
    """``sql`` with :data:`MARKER` replaced by the terms; ``placeholder(i, term)`` writes the
    parameter of the ``i``-th term (from 0)."""
    if MARKER not in sql:
        raise RuntimeError(f"a list query without {MARKER!r}")
    where = "".join(
        f" AND {term.column} {term.operator} {placeholder(i, term)}" for i, term in enumerate(terms)
    )
    return sql.replace(MARKER, where)
