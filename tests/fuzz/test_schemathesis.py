"""Schemathesis against the app's own OpenAPI document, on SQLite and on PostgreSQL.

Every operation gets generated valid (``positive``) and invalid (``negative``) requests, sent
over loopback HTTP to a real app on a real store (:mod:`tests.fuzz.server`); then a
state machine chains operations through the ids they answer (create a webhook, then read,
patch, test, list the logs of and delete it). Each response must not be a 5xx, must have a
documented status, content type and body schema, and every error must be the contract's
envelope.

Deterministic and bounded for CI (``derandomize``, a few examples per operation);
``HOOKLINE_FUZZ_EXAMPLES=2000`` runs a long, still deterministic session (docs/fuzzing.md).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.fuzz.checks import error_envelope
from tests.fuzz.grounding import BearerAuth, ground, grounded, stable_choice
from tests.fuzz.server import LiveApi, live_api

EXAMPLES_ENV = "HOOKLINE_FUZZ_EXAMPLES"
EXAMPLES = int(os.environ.get(EXAMPLES_ENV) or "12")
STATEFUL_STEPS = 12
STATEFUL_RUNS = 3  # runs until one has chained a created webhook's id (the first derandomized)

# "Valid by the schema, so it must be accepted" cannot hold here: the schema cannot say which
# event names the catalogue holds or which URLs pass the SSRF policy (400 for those is right).
EXCLUDED = [positive_data_acceptance]


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )


@pytest.fixture
def live(database_url: str) -> Iterator[LiveApi]:
    """Hookline served on loopback, on this test's own database."""
    with live_api(database_url) as api:
        yield api


@pytest.fixture
def schema(live: LiveApi) -> Any:
    """The OpenAPI document as the app serves it, loaded by schemathesis, with the keys."""
    loaded = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")

    class Keys(BearerAuth):
        keys: ClassVar[dict[str, str]] = {
            role: headers["Authorization"] for role, headers in live.headers.items()
        }

    loaded.auth(refresh_interval=None)(Keys)
    return loaded


def _has_inputs(operation: Any) -> bool:
    return bool(list(operation.iter_parameters())) or bool(list(operation.body))


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(live: LiveApi, operation: Any, mode: GenerationMode, seen: Counter[str]) -> None:
    """Run one operation's generated cases; raises on the first (shrunk) failure."""
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = grounded(strategy, live.receiver_url)

    @given(case=strategy)
    @_settings(EXAMPLES)
    def run(case: Any) -> None:
        response = case.call_and_validate(
            base_url=live.base_url,
            excluded_checks=EXCLUDED,
            additional_checks=[error_envelope],
            timeout=30,
        )
        seen[f"{operation.label} {response.status_code}"] += 1

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # No parameters and no body (GET /healthz): nothing to make invalid.
        if mode is GenerationMode.POSITIVE or _has_inputs(operation):
            raise


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation(live: LiveApi, schema: Any, mode: GenerationMode) -> None:
    """No operation answers a 5xx or an undocumented answer, for valid or invalid input."""
    failures: dict[str, str] = {}
    seen: Counter[str] = Counter()
    operations = _operations(schema)
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        try:
            _fuzz(live, operation, mode, seen)
        except Exception as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    print("\n".join(f"{n:5d} {k}" for k, n in sorted(seen.items())))  # shown with -s
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert any(key.endswith(" 201") for key in seen) or mode is GenerationMode.NEGATIVE, seen


def test_stateful(live: LiveApi, schema: Any) -> None:
    """Operations chained through the ids they answer (links schemathesis infers from the
    document): a created webhook is read, patched, tested, has its secret and logs read and
    is deleted, by its real id."""
    counter = Counter[str]()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            counter["steps"] += 1
            # The choice must follow from the case alone: Hypothesis replays inputs, and a
            # step that answered 201 once and 400 on the replay is "flaky" to it.
            ground(case, stable_choice(case), live.receiver_url)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": live.base_url, "timeout": 30}

        def after_call(self, response: Any, case: Any) -> None:
            counter[f"{case.operation.label} {response.status_code}"] += 1

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                excluded_checks=EXCLUDED,
                additional_checks=[error_envelope],
                transport_kwargs=kwargs,
            )

    def chained() -> list[str]:
        return [k for k in counter if "{id}" in k and k.endswith((" 200", " 204"))]

    # No shrinking: a failing scenario is reported as found, without replaying it.
    settings = hypothesis.settings(
        _settings(EXAMPLES),
        stateful_step_count=STATEFUL_STEPS,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    for run in range(STATEFUL_RUNS):
        if run:
            # The derandomized run drew no chain (seen once in about ten full runs: 142 steps
            # without a 201 for a create, the draws following the server's answers): the next
            # runs draw from other seeds, so the chained steps are still checked.
            settings = hypothesis.settings(settings, derandomize=False)
            print(f"stateful run {run + 1}: nothing chained yet, drawing from another seed")
        try:
            Machine.run(settings=settings)
        except hypothesis.errors.FlakyStrategyDefinition as exc:
            # schemathesis's stateful generation adapts to what the server answered (the ids
            # in its bundles, what earlier steps stored), so in long runs Hypothesis can meet
            # a known prefix that now draws differently, and stops there. Not a finding about
            # the API: every step before it was checked (a failed check raises FailureGroup).
            print(f"stateful run stopped early after {counter['steps']} steps: {exc}"[:500])
        if chained():
            break
    print("\n".join(f"{n:5d} {k}" for k, n in sorted(counter.items())))  # shown with -s
    assert chained(), f"no step reached a webhook created earlier in {STATEFUL_RUNS} runs"
