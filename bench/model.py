"""What a scenario produces: figures (one value per run) with their targets, and notes."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Budget, Processes, summary

# The two throughput figures of a delivery run (see bench.harness.rates), by their table names.
KINDS = {"end_to_end": "end to end", "drain": "drain"}


@dataclass(frozen=True)
class Target:
    """A target from issue 6: ``op`` is ``>=``, ``<=`` or ``<``."""

    op: str
    value: float

    def met(self, median: float) -> bool:
        if math.isnan(median):
            return False
        if self.op == ">=":
            return median >= self.value
        return median <= self.value if self.op == "<=" else median < self.value

    def __str__(self) -> str:
        return f"{self.op} {number(self.value)}"


@dataclass
class Figure:
    """One measured figure of one scenario, a value per run."""

    scenario: int
    label: str
    unit: str
    runs: list[float]
    target: Target | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "label": self.label,
            "unit": self.unit,
            "runs": self.runs,
        }
        if self.runs:
            out.update(summary(self.runs))
        if self.target is not None:
            out["target"] = str(self.target)
            out["met"] = self.met()
        return out

    def met(self) -> bool | None:
        if self.target is None:
            return None
        return bool(self.runs) and self.target.met(summary(self.runs)["median"])


@dataclass
class Context:
    """Shared by the scenarios of one run: budget, scale, and what was measured so far."""

    budget: Budget
    workdir: Path
    runs: int = 3
    scale: float = 1.0  # < 1 while developing: fewer events everywhere
    figures: list[Figure] = field(default_factory=list)
    notes: dict[int, list[str]] = field(default_factory=dict)
    logged: dict[int, Counter[str]] = field(default_factory=dict)  # Hookline's errors/warnings

    def n(self, full: int, minimum: int = 100) -> int:
        """An event count scaled for this run."""
        return max(minimum, int(full * self.scale))

    def processes(self, scenario: int, name: str) -> Processes:
        """A process group for one run, whose Hookline log problems are counted."""

        def count(found: Counter[str]) -> None:
            self.logged.setdefault(scenario, Counter()).update(found)

        return Processes(self.workdir / name, on_exit=count)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, scenario: int, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)

    def median(self, scenario: int, label: str) -> float | None:
        for figure in self.figures:
            if figure.scenario == scenario and figure.label == label and figure.runs:
                return summary(figure.runs)["median"]
        return None


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
