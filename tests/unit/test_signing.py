"""Signatures and canonical bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hookline.domain.events import canonical_json, event_body
from hookline.signing import sign, verify


def test_sign_is_hmac_sha256_hex() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"secret-1", body, hashlib.sha256).hexdigest()
    assert sign("secret-1", body) == expected
    assert verify("secret-1", body, expected)
    assert verify("secret-1", body, f"  {expected.upper()} ")


@pytest.mark.parametrize(
    "header",
    [None, "", "00" * 32, "zz" * 32, "abc", sign("other-secret", b'{"a":1}')],
)
def test_verify_refuses_what_does_not_sign(header: str | None) -> None:
    assert not verify("secret-1", b'{"a":1}', header)


def test_verify_refuses_a_changed_body() -> None:
    signature = sign("secret-1", b'{"a":1}')
    assert not verify("secret-1", b'{"a": 1}', signature)


def test_body_matches_json_stringify_and_plextrac_recipe() -> None:
    created = datetime(2026, 11, 29, 12, 0, 0, 5000, tzinfo=UTC)
    body = event_body("evt_1", "ReportPublished", created, "c1", {"title": "Résumé", "n": [1, 2.5]})
    assert (
        body
        == (
            '{"id":"evt_1","event":"ReportPublished","createdAt":"2026-11-29T12:00:00.005Z",'
            '"clientCuid":"c1","data":{"title":"Résumé","n":[1,2.5]}}'
        ).encode()
    )
    parsed = json.loads(body)
    assert json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode() == body


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"x": float("nan")})


def test_event_bodies_of_successive_times_each_carry_their_own_time() -> None:
    first = datetime(2026, 11, 29, 12, 0, 0, 5000, tzinfo=UTC)
    later = first + timedelta(milliseconds=1)
    same_instant_elsewhere = first.astimezone(timezone(timedelta(hours=2)))
    stamps = [
        json.loads(event_body("evt_1", "E", moment, None, {}))["createdAt"]
        for moment in (first, first, later, first, same_instant_elsewhere, later)
    ]
    assert stamps == [
        "2026-11-29T12:00:00.005Z",
        "2026-11-29T12:00:00.005Z",
        "2026-11-29T12:00:00.006Z",
        "2026-11-29T12:00:00.005Z",
        "2026-11-29T12:00:00.005Z",
        "2026-11-29T12:00:00.006Z",
    ]
