"""Invalid webhook input answers 400 with the field named, and stores nothing (contract 3, 6, 7).

Every case runs on create and on update; an update that fails changes nothing, not even
``updatedAt``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

URL_PREFIX = "https://hooks.example.com/"
MIB = 1024 * 1024

# (case id, field overrides, status, code, field named in details)
FIELD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("name empty", {"name": ""}, "validation_error", "name"),
    ("name 201 chars", {"name": "n" * 201}, "validation_error", "name"),
    ("name not a string", {"name": 42}, "validation_error", "name"),
    ("name NUL", {"name": "a\x00b"}, "validation_error", "name"),
    ("name escape char", {"name": "a\x1bb"}, "validation_error", "name"),
    ("name newline", {"name": "a\nb"}, "validation_error", "name"),
    ("name DEL", {"name": "a\x7fb"}, "validation_error", "name"),
    ("url relative", {"url": "/hook"}, "url_not_allowed", "url"),
    ("url ftp", {"url": "ftp://hooks.example.com/hook"}, "url_not_allowed", "url"),
    (
        "url 2049 chars",
        {"url": URL_PREFIX + "a" * (2049 - len(URL_PREFIX))},
        "validation_error",
        "url",
    ),
    ("url not a string", {"url": ["https://hooks.example.com/"]}, "validation_error", "url"),
    ("url NUL", {"url": "https://hooks.example.com/\x00"}, "validation_error", "url"),
    ("url loopback literal", {"url": "http://127.0.0.1/hook"}, "url_not_allowed", "url"),
    ("url metadata literal", {"url": "http://169.254.169.254/"}, "url_not_allowed", "url"),
    ("url localhost", {"url": "http://localhost:8080/hook"}, "url_not_allowed", "url"),
    ("url private name", {"url": "https://internal.example.com/h"}, "url_not_allowed", "url"),
    ("url mixed name", {"url": "https://mixed.example.com/h"}, "url_not_allowed", "url"),
    ("url not resolving", {"url": "https://nowhere.example.com/h"}, "url_not_allowed", "url"),
    ("events empty", {"events": []}, "validation_error", "events"),
    ("events unknown", {"events": ["NoSuchEvent"]}, "validation_error", "events[0]"),
    (
        "events duplicate",
        {"events": ["ReportPublished", "ReportPublished"]},
        "validation_error",
        "events",
    ),
    ("events not a list", {"events": "ReportPublished"}, "validation_error", "events"),
    ("events non-string", {"events": ["ReportPublished", 7]}, "validation_error", "events[1]"),
    ("events NUL", {"events": ["Report\x00Published"]}, "validation_error", "events[0]"),
    ("clientCuids not a list", {"clientCuids": "c1"}, "validation_error", "clientCuids"),
    ("clientCuids NUL", {"clientCuids": ["c\x001"]}, "validation_error", "clientCuids[0]"),
    ("clientCuids non-string", {"clientCuids": [1]}, "validation_error", "clientCuids[0]"),
    ("secret 7 chars", {"secret": "s" * 7}, "validation_error", "secret"),
    ("secret 257 chars", {"secret": "s" * 257}, "validation_error", "secret"),
    ("secret NUL", {"secret": "secret\x00value"}, "validation_error", "secret"),
    ("secret not a string", {"secret": 12345678}, "validation_error", "secret"),
    ("sslVerification string", {"sslVerification": "yes"}, "validation_error", "sslVerification"),
    ("enabled number", {"enabled": 1}, "validation_error", "enabled"),
    ("enabled string", {"enabled": "true"}, "validation_error", "enabled"),
    ("unknown field", {"foo": 1}, "validation_error", "foo"),
    ("snake_case field", {"client_cuids": []}, "validation_error", "client_cuids"),
]

CREATE_ONLY_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("name missing", {"name": ...}, "validation_error", "name"),
    ("url missing", {"url": ...}, "validation_error", "url"),
    ("events missing", {"events": ...}, "validation_error", "events"),
    ("events null", {"events": None}, "validation_error", "events"),
]

PATCH_ONLY_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (f"{name} null", {name: None}, "validation_error", name)
    for name in ("name", "url", "events", "clientCuids", "sslVerification", "enabled")
]


def _ids(cases: list[tuple[str, dict[str, Any], str, str]]) -> list[Any]:
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("overrides", "code", "field"), _ids(FIELD_CASES + CREATE_ONLY_CASES))
async def test_create_refuses_invalid_field(api, acme, overrides, code, field):
    response = await api.client.post(api.base, headers=acme.admin, json=api.body(**overrides))
    api.error(response, 400, code, field)
    assert await api.all(acme.admin) == []


@pytest.mark.parametrize(("overrides", "code", "field"), _ids(FIELD_CASES + PATCH_ONLY_CASES))
async def test_update_refuses_invalid_field(api, acme, overrides, code, field):
    created = await api.create(acme.admin, secret="original-secret")
    patch = {k: v for k, v in overrides.items() if v is not ...}
    response = await api.client.patch(f"{api.base}/{created['id']}", headers=acme.admin, json=patch)
    api.error(response, 400, code, field)
    assert await api.get(acme.admin, created["id"]) == created
    assert await api.secret(acme.admin, created["id"]) == "original-secret"


async def test_unknown_field_is_named_with_a_clear_message(api, acme):
    response = await api.client.post(api.base, headers=acme.admin, json=api.body(foo=1))
    details = api.error(response, 400, "validation_error", "foo")["error"]["details"]
    assert {"field": "foo", "message": "unknown field"} in details


@pytest.mark.parametrize("method", ["post", "patch"])
async def test_url_that_does_not_resolve_says_so(api, acme, method):
    url = "https://nowhere.example.com/h"
    if method == "post":
        response = await api.client.post(api.base, headers=acme.admin, json=api.body(url=url))
    else:
        created = await api.create(acme.admin)
        path = f"{api.base}/{created['id']}"
        response = await api.client.patch(path, headers=acme.admin, json={"url": url})
    details = api.error(response, 400, "url_not_allowed", "url")["error"]["details"]
    assert "does not resolve" in details[0]["message"]


async def test_every_invalid_field_is_reported_at_once(api, acme):
    body = {"name": "", "url": "https://hooks.example.com/", "events": [], "secret": "short"}
    response = await api.client.post(api.base, headers=acme.admin, json=body)
    fields = {d["field"] for d in api.error(response, 400, "validation_error")["error"]["details"]}
    assert fields == {"name", "events", "secret"}


# -- bodies that are not a JSON object -------------------------------------------------------
BAD_BODIES = [
    pytest.param(b'{"name": "x",', "application/json", id="truncated"),
    pytest.param(b"{'name': 'x'}", "application/json", id="single quotes"),
    pytest.param(b'["ReportPublished"]', "application/json", id="array"),
    pytest.param(b'"text"', "application/json", id="string"),
    pytest.param(b"null", "application/json", id="null"),
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b'{"name": NaN}', "application/json", id="NaN"),
    pytest.param(b'{"name": "\xff\xfe"}', "application/json", id="not UTF-8"),
    pytest.param(b'{"name": "\\ud800"}', "application/json", id="lone surrogate"),
    pytest.param(b"[" * 200_000 + b"]" * 200_000, "application/json", id="deeply nested"),
    pytest.param(b'{"name": "x"}', "text/plain", id="text/plain"),
    pytest.param(b"name=x", "application/x-www-form-urlencoded", id="form"),
]


@pytest.mark.parametrize(("content", "content_type"), BAD_BODIES)
async def test_body_that_is_not_a_json_object_is_invalid_json(api, acme, content, content_type):
    created = await api.create(acme.admin)
    headers = {**acme.admin, "Content-Type": content_type}
    for method, path in [("POST", api.base), ("PATCH", f"{api.base}/{created['id']}")]:
        response = await api.client.request(method, path, headers=headers, content=content)
        assert response.status_code == 400, (method, response.text)
        api.error(response, 400, "invalid_json")
    assert await api.all(acme.admin) == [created]


async def test_json_without_content_type_is_accepted(api, acme):
    content = json.dumps(api.body()).encode()
    response = await api.client.post(api.base, headers=acme.admin, content=content)
    assert "content-type" not in response.request.headers
    assert response.status_code == 201, response.text


async def test_json_with_charset_parameter_is_accepted(api, acme):
    headers = {**acme.admin, "Content-Type": "application/json; charset=utf-8"}
    content = json.dumps(api.body()).encode()
    response = await api.client.post(api.base, headers=headers, content=content)
    assert response.status_code == 201, response.text


# -- size limit --------------------------------------------------------------------------------
def _padded_body(size: int) -> bytes:
    """A valid create body padded with trailing whitespace (legal JSON) to ``size`` bytes."""
    raw = json.dumps(
        {"name": "Big", "url": "https://hooks.example.com/", "events": ["ReportPublished"]}
    )
    return raw.encode() + b" " * (size - len(raw))


async def test_body_of_exactly_one_mib_is_accepted(api, acme):
    response = await api.client.post(api.base, headers=acme.admin, content=_padded_body(MIB))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_body_over_one_mib_with_content_length_is_413(api, acme, method):
    created = await api.create(acme.admin)
    path = api.base if method == "POST" else f"{api.base}/{created['id']}"
    content = _padded_body(MIB + 1)
    response = await api.client.request(method, path, headers=acme.admin, content=content)
    assert response.request.headers["content-length"] == str(MIB + 1)
    api.error(response, 413, "payload_too_large")
    assert await api.all(acme.admin) == [created]


async def test_declared_length_over_one_mib_is_refused_before_reading(api, acme):
    headers = {**acme.admin, "Content-Length": str(MIB + 1)}
    response = await api.client.post(api.base, headers=headers, content=b"{}")
    api.error(response, 413, "payload_too_large")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_chunked_body_over_one_mib_is_413(api, acme, method):
    created = await api.create(acme.admin)
    path = api.base if method == "POST" else f"{api.base}/{created['id']}"
    content = _padded_body(MIB + 1)

    async def chunks():
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = await api.client.request(method, path, headers=acme.admin, content=chunks())
    assert "content-length" not in response.request.headers
    api.error(response, 413, "payload_too_large")
    assert await api.all(acme.admin) == [created]


async def test_chunked_body_under_the_limit_is_accepted(api, acme):
    content = _padded_body(MIB)

    async def chunks():
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = await api.client.post(api.base, headers=acme.admin, content=chunks())
    assert response.status_code == 201, response.text
