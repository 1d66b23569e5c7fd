"""Fault-injection ("chaos") suite: proves that nothing Hookline accepts is lost.

Pieces, each a small module: :mod:`records` (durable JSON-lines journals), :mod:`sink` (the
signature-checking receiver), :mod:`proxy` (a TCP fault proxy), :mod:`producer` (publishes with
Idempotency-Key), :mod:`pgcluster` (a private PostgreSQL), :mod:`stack` (the Hookline processes),
:mod:`controller` (the seeded fault schedule), :mod:`plan` (which event goes where),
:mod:`checker` (the offline invariants), :mod:`dbstate` (the store's final state, integrity),
:mod:`scenario` (runs one store end to end) and :mod:`report` (figures, docs/reliability.md).
``python -m tests.chaos --long`` is ``make chaos``; ``test_chaos_smoke.py`` is the CI run.

Everything runs on loopback; the PostgreSQL part runs its own cluster (``initdb`` into a temp
dir, as the ``postgres`` user when we are root), never the shared server, and is skipped with
one line when the PostgreSQL 15 binaries are missing (a failure with
``HOOKLINE_REQUIRE_POSTGRES=1``). The journals and every process's output stay in the run's
directory (printed by ``python -m tests.chaos``; the test's ``tmp_path`` in pytest).
"""
