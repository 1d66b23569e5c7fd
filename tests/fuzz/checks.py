"""The contract's checks that schemathesis does not know: the error envelope on every 4xx."""

from __future__ import annotations

from typing import Any

from schemathesis import Case, CheckContext, Response


def error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is ``{"error": {"code", "message", "details": [{"field", "message"}]}}``
    as JSON, and never shows a traceback (contract section 3)."""
    if response.status_code < 400:
        return None
    assert "Traceback" not in response.text, f"traceback in a {response.status_code} answer"
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered as {content_type!r}"
    )
    body: Any = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str), error
    assert error["code"], error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert isinstance(error["details"], list), error
    for detail in error["details"]:
        assert set(detail) == {"field", "message"}, detail
        assert isinstance(detail["field"], str), detail
        assert isinstance(detail["message"], str), detail
    return True
