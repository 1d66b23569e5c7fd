"""The value rules of the domain, written into the OpenAPI document.

Documentation only: the API's request models shape the input, and the rules are enforced
(with Hookline's own messages) by :mod:`hookline.domain.webhooks` and the services. Writing
them here lets clients and schema-driven tools (tests/fuzz runs schemathesis) know the limits
without reading prose; the fuzz run checks that each one is enforced (a request that breaks
one must answer 400).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from hookline.domain.paging import MAX_LIMIT
from hookline.domain.webhooks import (
    CLIENT_CUID_MAX,
    CLIENT_CUIDS_MAX,
    EVENT_NAME_MAX,
    NAME_MAX,
    SECRET_MAX,
    SECRET_MIN,
    URL_MAX,
)

# Contract section 7: no C0 or C1 control character, no DEL, in any string.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
# What `hookline event-type add` accepts, so what every catalogue name looks like.
EVENT_NAME = r"^[A-Za-z][A-Za-z0-9_.:-]*$"
# An Idempotency-Key: printable ASCII.
PRINTABLE_ASCII = r"^[ -~]*$"
QUERY_TEXT_MAX = 200  # the id and name filters of the history routes


def documented(**keywords: Any) -> Any:
    """A pydantic ``Field`` that only adds JSON Schema keywords."""
    return Field(json_schema_extra=keywords)


def text(min_length: int, max_length: int) -> dict[str, Any]:
    """JSON Schema keywords of a string field without control characters."""
    return {"minLength": min_length, "maxLength": max_length, "pattern": NO_CONTROL}


Name = Annotated[str, documented(**text(1, NAME_MAX))]
Url = Annotated[str, documented(**text(1, URL_MAX))]
Secret = Annotated[str, documented(**text(SECRET_MIN, SECRET_MAX))]
EventName = Annotated[str, documented(minLength=1, maxLength=EVENT_NAME_MAX, pattern=EVENT_NAME)]
ClientCuid = Annotated[str, documented(**text(1, CLIENT_CUID_MAX))]
EventNames = Annotated[
    list[EventName], documented(minItems=1, maxItems=CLIENT_CUIDS_MAX, uniqueItems=True)
]
ClientCuids = Annotated[list[ClientCuid], documented(maxItems=CLIENT_CUIDS_MAX, uniqueItems=True)]

LIMIT: dict[str, Any] = {"json_schema_extra": {"minimum": 1, "maximum": MAX_LIMIT}}
"""``Query(**LIMIT)``: a page size."""
QUERY_TEXT: dict[str, Any] = {"json_schema_extra": text(0, QUERY_TEXT_MAX)}
"""``Query(**QUERY_TEXT)``: an id or name filter of the history routes."""
NO_CONTROL_QUERY: dict[str, Any] = {"json_schema_extra": {"pattern": NO_CONTROL}}
"""``Query(**NO_CONTROL_QUERY)``: a filter with no length limit."""
