"""The benchmark's outputs: the table on stdout, ``bench/results/latest.json`` and
``docs/benchmarks.md`` (the table, the notes, the machine, and how each scenario measures)."""

from __future__ import annotations

import inspect
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.harness import ROOT, summary
from bench.model import Context, Figure, number

TITLES = {
    1: "Ceiling (bare aiohttp client)",
    2: "Delivery, `serve` on SQLite",
    3: "Delivery, PostgreSQL, `api` + 2 workers",
    4: "Ingest, `serve` on SQLite",
    5: "Latency at 500 events/s",
    6: "Fan-out to 10,000 webhooks",
    7: "Isolation, half the endpoints hang",
    8: "Backlog, PostgreSQL, 2 workers",
    9: "Peer: Celery + requests",
}


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    if done.returncode:
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""  # a clean `git status` prints nothing


def _cpu() -> str:
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    model = fields.get("model name", platform.processor())
    detail = f"family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}"
    mhz = fields.get("cpu MHz")
    virtual = ", virtual machine" if "hypervisor" in fields.get("flags", "").split() else ""
    return f"{model} ({detail}{f', {float(mhz):.0f} MHz' if mhz else ''}{virtual})"


def machine(source: str) -> dict[str, Any]:
    """What the figures were measured on; ``source`` identifies the snapshot of src/."""
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2
    dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"]) not in ("", "?")
    versions = {}
    for package in ("hookline", "aiohttp", "uvloop", "celery", "requests"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "nproc": _run(["nproc"]),
        "cpu": _cpu(),
        "memory_gib": round(memory_gib, 1),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "git": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        + (" + uncommitted changes in src/" if dirty else "")
        + f" (snapshot {source}, taken at the start and run throughout)",
        "packages": versions,
        "postgresql": _run([*psql, "SHOW server_version"]).split()[0],
        "postgresql_autovacuum": _run([*psql, "SHOW autovacuum"]),
        "redis": _run(["redis-server", "--version"]).split(" sha=")[0],
        "wrk": _run(["sh", "-c", "wrk -v 2>&1 | head -1"]).split(" Copyright")[0],
    }


def _met(figure: Figure) -> str:
    met = figure.met()
    return "" if met is None else ("met" if met else "NOT MET")


def rows(ctx: Context) -> list[list[str]]:
    out = []
    for f in sorted(ctx.figures, key=lambda f: f.scenario):
        s = summary(f.runs) if f.runs else {"median": float("nan"), "min": 0.0, "max": 0.0}
        spread = f"{number(s['min'])} - {number(s['max'])}" if f.runs else ""
        unit = "" if f.unit in ("/s", "x") else f" {f.unit}"
        out.append(
            [
                str(f.scenario),
                TITLES[f.scenario],
                f.label,
                number(s["median"]) + unit,
                spread,
                str(f.target or ""),
                _met(f),
            ]
        )
    return out


HEAD = ["#", "scenario", "figure", "median", "spread (min - max)", "target", "target met"]


def text_table(ctx: Context) -> str:
    table = [HEAD, *rows(ctx)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(ctx: Context) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(ctx)]
    return "\n".join(lines)


def write_json(ctx: Context, info: dict[str, Any], path: Path, extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": info,
        **extra,
        "figures": [f.as_dict() for f in ctx.figures],
        "notes": {str(k): v for k, v in sorted(ctx.notes.items())},
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_markdown(
    ctx: Context, info: dict[str, Any], path: Path, extra: dict[str, Any], modules: list[ModuleType]
) -> None:
    notes = "\n".join(
        f"- **{k}. {TITLES[k]}**\n" + "\n".join(f"  - {v}" for v in ctx.notes[k])
        for k in sorted(ctx.notes)
    )
    methods = "\n\n".join(_method(m) for m in modules)
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    load = (
        f"{' '.join(info['load_average_at_start'])} at the start (above 0: other work shares "
        f"the cores), {' '.join(extra['load_average_at_end'])} at the end"
    )
    text = f"""# Benchmarks

The latest run of `make bench` (written by `bench/report.py`; do not edit by hand). Each
figure is the median of {ctx.runs} runs, with the spread (min - max) of those runs. Everything runs
on one machine, over loopback: Hookline, the receiver, the load generators and PostgreSQL/Redis
share its cores, as they would share a small server. The machine's speed drifts within minutes,
so a figure that compares two scenarios is taken run by run where it can be: scenario 2's
ratio to scenario 1 is each run over a ceiling run made just before it, and scenario 7's share
of scenario 2, like scenario 9's ratio to the peer, each run against a run of scenario 2 made
just before it. Figures "with 2 delivery processes" are `serve` with `HOOKLINE_ENGINE_PROCESS=true`
and `HOOKLINE_ENGINE_PROCESSES=2` (not the default; see docs/operations.md): scenario 9 shows
its target against both, as the peer runs its fastest pool.

## Machine

| | |
|---|---|
| date | {info["date"]} |
| cores (`nproc`) | {info["nproc"]} |
| CPU | {info["cpu"]} |
| memory | {info["memory_gib"]} GiB |
| Python | {info["python"]} (Linux {info["kernel"]}) |
| load average (1, 5, 15 min) | {load} |
| Hookline | {info["git"]} |
| packages | {packages} |
| PostgreSQL | {info["postgresql"]}, autovacuum {info["postgresql_autovacuum"]} |
| Redis, wrk | {info["redis"]}; {info["wrk"]} |

Run time {extra["duration_s"]:.0f} s of a {extra["budget_s"]:.0f} s budget; scale {ctx.scale}.

## Results

{markdown_table(ctx)}

## Notes from this run

{notes}

## How each scenario measures

{methods}

## Comparing two builds despite the noise

On a shared machine these figures move by a third within minutes, more than most changes
make. `python -m bench.instructions` counts instructions instead (callgrind, so ~1 % apart
for the same build): `serve` drains 2,000 deliveries with everything already published, and
it prints the instructions per delivery of the event loop and of the SQLite thread
(`--phase publish`: per event published). Run it on each build and compare.
"""
    path.write_text(text)


def _method(module: ModuleType) -> str:
    """A scenario module's docstring, as Markdown (its first line a heading)."""
    title, _, body = inspect.cleandoc(module.__doc__ or "").partition("\n")
    return f"### {title}\n{body}".replace("``", "`")
