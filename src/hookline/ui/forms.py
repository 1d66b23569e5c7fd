"""The webhook form: HTML form fields <-> the API's ``WebhookIn`` / ``WebhookPatch``.

The form is shaped into the very models the API parses, and the webhook service judges the
values, so the UI shows exactly the API's messages. The only rule of its own is one the API
cannot have: "specific clients" ticked with no client id given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from hookline.api.errors import field_errors
from hookline.api.schemas import WebhookIn, WebhookPatch
from hookline.domain.webhooks import Webhook
from hookline.errors import FieldError, ValidationFailed
from hookline.ui.access import text, texts

FIELDS = ("name", "url", "clientCuids", "events", "secret", "sslVerification", "enabled")
_FIELD = re.compile(r"^([A-Za-z]+)(?:\[(\d+)\])?")
_SEPARATORS = re.compile(r"[,\r\n]+")
SIGNED, UNSIGNED = "Signed", "Unsigned"

M = TypeVar("M", bound=BaseModel)


@dataclass
class WebhookForm:
    """What the form shows, and what the admin typed into it."""

    name: str = ""
    url: str = ""
    clients: str = "all"  # "all" | "specific"
    client_text: str = ""  # one id a line, or comma-separated
    events: list[str] = field(default_factory=list)
    secret: str = ""
    remove_secret: bool = False
    ssl_verification: bool = True
    enabled: bool = True

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookForm:
        """The edit form of a stored webhook: every field but the secret, which never leaves."""
        return cls(
            name=webhook.name,
            url=webhook.url,
            clients="specific" if webhook.client_cuids else "all",
            client_text="\n".join(webhook.client_cuids),
            events=list(webhook.events),
            ssl_verification=webhook.ssl_verification,
            enabled=webhook.enabled,
        )

    @classmethod
    def parse(cls, form: FormData) -> WebhookForm:
        """The submitted fields, as typed (unticked checkboxes are absent: false)."""
        return cls(
            name=text(form, "name"),
            url=text(form, "url"),
            clients="specific" if text(form, "clients") == "specific" else "all",
            client_text=text(form, "client_cuids"),
            events=texts(form, "events"),
            secret=text(form, "secret"),
            remove_secret=bool(text(form, "remove_secret")),
            ssl_verification=bool(text(form, "ssl_verification")),
            enabled=bool(text(form, "enabled")),
        )

    def client_cuids(self) -> list[str]:
        """The client ids: none for "all clients", else one per line or comma."""
        if self.clients != "specific":
            return []
        return [part.strip() for part in _SEPARATORS.split(self.client_text) if part.strip()]

    def own_problems(self) -> list[FieldError]:
        """What the form itself refuses before asking the service."""
        if self.clients == "specific" and not self.client_cuids():
            return [
                FieldError(
                    "clientCuids", "list at least one client id, or choose \u201cAll clients\u201d"
                )
            ]
        return []

    def to_input(self) -> WebhookIn:
        """The API's create body (an empty secret means unsigned)."""
        return _validated(
            WebhookIn,
            {
                "name": self.name,
                "url": self.url,
                "clientCuids": self.client_cuids(),
                "events": self.events,
                "secret": self.secret or None,
                "sslVerification": self.ssl_verification,
                "enabled": self.enabled,
            },
        )

    def to_patch(self) -> WebhookPatch:
        """The API's update body: every field; the secret only when typed (set) or
        "remove" is ticked (null); otherwise the stored one is kept."""
        body: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "clientCuids": self.client_cuids(),
            "events": self.events,
            "sslVerification": self.ssl_verification,
            "enabled": self.enabled,
        }
        if self.remove_secret:
            body["secret"] = None
        elif self.secret:
            body["secret"] = self.secret
        return _validated(WebhookPatch, body)

    def signing_state(self, stored_secret: bool) -> str:
        """``Signed`` or ``Unsigned``: what saving this form would leave ("remove" wins)."""
        if self.remove_secret:
            return UNSIGNED
        return SIGNED if self.secret or stored_secret else UNSIGNED


def _validated(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(details=field_errors(exc.errors())) from None


def messages_by_field(errors: list[FieldError]) -> dict[str, str]:
    """Field errors grouped under the form field they belong to (``events[2]`` -> ``events``);
    anything else under ``form``."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        match = _FIELD.match(error.field)
        base = match.group(1) if match else ""
        message = error.message
        if base == "clientCuids" and match and match.group(2) is not None:
            message = f"client id {int(match.group(2)) + 1}: {message}"
        key = base if base in FIELDS else "form"
        if key == "form" and error.field:
            message = f"{error.field}: {message}"
        if message not in grouped.setdefault(key, []):
            grouped[key].append(message)
    return {key: "; ".join(found) for key, found in grouped.items()}
