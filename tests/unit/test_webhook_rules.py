"""The webhook field rules that need no I/O."""

from __future__ import annotations

import pytest

from hookline.domain.tenants import Permission, Role, may
from hookline.domain.webhooks import check_fields, has_control_chars


@pytest.mark.parametrize("text", ["a\x00b", "\x1f", "tab\there", "del\x7f", "c1\x85"])
def test_control_characters_are_refused(text: str) -> None:
    assert has_control_chars(text)


def test_ordinary_unicode_is_fine() -> None:
    assert not has_control_chars("Rapport publié 📄 — ok")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"url": "u" * 2049}, "url"),
        ({"events": ()}, "events"),
        ({"events": ("A", "A")}, "events"),
        ({"events": ("",)}, "events[0]"),
        ({"client_cuids": ("ok", "bad\x00")}, "clientCuids[1]"),
        ({"secret": "short"}, "secret"),
        ({"secret": "s" * 257}, "secret"),
    ],
)
def test_each_rule_names_its_field(kwargs: dict[str, object], field: str) -> None:
    errors = check_fields(**kwargs)  # type: ignore[arg-type]
    assert [e.field for e in errors] == [field]


def test_valid_fields_pass() -> None:
    assert (
        check_fields(
            name="x" * 200,
            url="https://hooks.example.com/x",
            events=("ReportPublished",),
            client_cuids=(),
            secret="s" * 8,
        )
        == []
    )


def test_roles() -> None:
    assert may(Role.ADMIN, Permission.MANAGE)
    assert may(Role.ADMIN, Permission.PUBLISH)
    assert may(Role.VIEWER, Permission.READ)
    assert not may(Role.VIEWER, Permission.MANAGE)
    assert not may(Role.PUBLISHER, Permission.READ)
    assert may(Role.PUBLISHER, Permission.PUBLISH)
