"""Fault-injection ("chaos") suite: proves that nothing Hookline accepts is lost.

Pieces, each a small module: :mod:`records` (durable JSON-lines journals), :mod:`sink` (the
signature-checking receiver), :mod:`proxy` (a TCP fault proxy), :mod:`producer` (publishes with
Idempotency-Key), :mod:`pgcluster` (a private PostgreSQL), :mod:`stack` (the Hookline processes),
:mod:`controller` (the seeded fault schedule), :mod:`checker` (the offline invariants),
:mod:`scenario` (runs one store end to end) and :mod:`report` (figures, docs/reliability.md).
``python -m tests.chaos --long`` is ``make chaos``; ``test_chaos_smoke.py`` is the CI run.
"""
