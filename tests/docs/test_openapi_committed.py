"""The committed openapi.json and docs/api.md are what ``scripts/export_openapi.py`` produces
from the app as it stands, and the document describes the API only (no web UI pages)."""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.docs.processes import ROOT

SCRIPT = ROOT / "scripts" / "export_openapi.py"
FIX = "run `python scripts/export_openapi.py` (with the project's virtualenv) and commit the result"
NOT_API = ("/healthz", "/readyz", "/metrics")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_openapi", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    files: dict[Path, str] = load_script().outputs()
    return files


@pytest.mark.parametrize("name", ["openapi.json", "docs/api.md"])
def test_committed_file_matches_the_app(generated: dict[Path, str], name: str) -> None:
    path = ROOT / name
    expected = generated[path]
    if not path.exists():
        pytest.fail(f"{name} is missing: {FIX}", pytrace=False)
    committed = path.read_text(encoding="utf-8")
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(), "committed", "app", lineterm="", n=1
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"{name} differs from the app: {FIX}\n{shown}", pytrace=False)


def test_the_document_has_only_api_routes(generated: dict[Path, str]) -> None:
    document: dict[str, Any] = json.loads(generated[ROOT / "openapi.json"])
    paths = set(document["paths"])
    strays = sorted(p for p in paths if not p.startswith("/api/") and p not in NOT_API)
    assert not strays, (
        f"routes outside the API in the OpenAPI document (include_in_schema=False?): {strays}"
    )
    for path in ("/api/internal/webhooks", "/api/internal/events", "/readyz"):
        assert path in paths


def test_api_md_lists_every_operation(generated: dict[Path, str]) -> None:
    document: dict[str, Any] = json.loads(generated[ROOT / "openapi.json"])
    page = generated[ROOT / "docs" / "api.md"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f"### `{method.upper()} {path}`" in page
            for status in operation["responses"]:
                assert f"| {status} |" in page
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in page
