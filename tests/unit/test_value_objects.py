"""Value objects (domain/values.py): frozen to the type checker, plain dataclasses at run time.

The run-time half is what the delivery path gains (no ``object.__setattr__`` per field); the
static half is what it keeps from ``frozen=True``: mypy refuses an assignment to a field, and
equal objects still hash alike.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from hookline.delivery.sender import Attempt, AttemptResult
from hookline.domain.deliveries import PublishResult


def test_equal_value_objects_hash_alike_and_compare_equal() -> None:
    first, second = PublishResult("evt_1", 2), PublishResult("evt_1", 2)
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second, PublishResult("evt_1", 3)}) == 2
    assert dataclasses.replace(first, deliveries=3) == PublishResult("evt_1", 3)


def test_default_factories_give_each_object_its_own_value() -> None:
    one, two = Attempt("http://a/", b"{}"), Attempt("http://a/", b"{}")
    assert one.headers == {}
    assert one.headers is not two.headers
    assert AttemptResult(success=True).response_headers is not AttemptResult(True).response_headers


def test_mypy_refuses_an_assignment_to_a_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = tmp_path / "assign.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from hookline.domain.deliveries import PublishResult

            result = PublishResult("evt_1", 2)
            result.deliveries = 3
            PublishResult("evt_1", "two")
            """
        )
    )
    monkeypatch.setenv("MYPYPATH", str(Path(__file__).resolve().parents[2] / "src"))
    cache = tmp_path / "mypy-cache"
    out, err, status = mypy_api.run(["--strict", "--cache-dir", str(cache), str(snippet)])
    assert status == 1, out + err
    assert 'Property "deliveries" defined in "PublishResult" is read-only' in out
    assert 'Argument 2 to "PublishResult" has incompatible type "str"; expected "int"' in out
    assert "Found 2 errors in 1 file" in out  # nothing else: the package itself type-checks
