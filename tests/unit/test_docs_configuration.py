"""docs/configuration.md and the settings object must not disagree."""

from __future__ import annotations

import re
from pathlib import Path

from hookline.config import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `(HOOKLINE_[A-Z_]+)` \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    rows = documented()
    assert set(rows) == {s.env for s in SETTINGS}
    for setting in SETTINGS:
        if setting.default:
            assert rows[setting.env] == f"`{setting.default}`", setting.env
        else:
            assert rows[setting.env].startswith("("), setting.env
