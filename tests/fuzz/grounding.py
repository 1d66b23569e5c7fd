"""Make generated requests reach past the first check, and carry the harness's key.

A schema can say "a string" for a webhook's URL and "an array of strings" for its events, not
"a URL whose host resolves to an allowed address" or "names from the catalogue". Left alone,
nearly every generated create or publish stops at 400 and the code behind it is never run.
So part of the valid (positive) cases get their URL pointed at the loopback receiver and their
event names taken from the catalogue; the other fields stay as generated.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

from hypothesis import strategies as st
from schemathesis import AuthContext, Case, GenerationMode

_IDS = re.compile(r"\b(ten|key|wh|evt|dlv|log)_[0-9A-Z]{26}\b")
CATALOGUE = ("ReportPublished", "AssessmentSubmitted", "EngagementRequested")


class BearerAuth:
    """schemathesis's auth provider: a key of the harness's tenant, mostly the admin's, the
    viewer's or the publisher's for about one case in six each (their 403s are part of the
    contract too). schemathesis skips ``set`` when a case drops the header on purpose."""

    keys: ClassVar[dict[str, str]] = {}  # role -> header value; set by a subclass

    def get(self, case: Case, context: AuthContext) -> str:
        return "admin"

    def set(self, case: Case, data: str, context: AuthContext) -> None:
        # Other bits of the digest than the grounding choice's: roles and grounding vary apart.
        role = {0: "viewer", 1: "publisher"}.get((_digest(case) >> 8) % 6, data)
        case.headers = case.headers or {}
        case.headers["Authorization"] = self.keys[role]


def _digest(case: Case) -> int:
    """A number that depends on what was generated only. Ids a link took from an earlier
    answer are random on every run; they are left out, or the same input would be grounded
    differently when Hypothesis replays it."""
    parts = (case.operation.label, case.path_parameters, case.query, case.body)
    text = _IDS.sub(r"\1_", json.dumps(parts, sort_keys=True, default=repr))
    return zlib.crc32(text.encode())


RECEIVER_PATHS = ("ok", "fail", "nul", "redirect", "big")


def ground(case: Case, choice: int, receiver: str) -> Case:
    """Replace the fields the schema cannot describe with real ones (choice 0: keep all)."""
    body = case.body
    if choice == 0 or not isinstance(body, dict) or _is_negative(case):
        return case
    receiver_url = receiver + RECEIVER_PATHS[_digest(case) // 3 % len(RECEIVER_PATHS)]
    label = case.operation.label
    if label in ("POST /api/internal/webhooks", "PATCH /api/internal/webhooks/{id}"):
        if "url" in body or label.startswith("POST"):
            body["url"] = receiver_url
        if "events" in body or label.startswith("POST"):
            body["events"] = list(_names(choice))
        if isinstance(body.get("clientCuids"), list) and choice == 2:
            body["clientCuids"] = []
        _fit_secret(body)
    elif label == "POST /api/internal/webhooks/test":
        if "webhookId" not in body or choice == 2:
            body.pop("webhookId", None)
            body["url"] = receiver_url
            _fit_secret(body)
        if "event" in body:
            body["event"] = CATALOGUE[choice % len(CATALOGUE)]
    elif label == "POST /api/internal/events":
        body["event"] = CATALOGUE[choice % len(CATALOGUE)]
    elif label == "POST /api/internal/events/batch" and isinstance(body.get("events"), list):
        for index, item in enumerate(body["events"]):
            if isinstance(item, dict):
                item["event"] = CATALOGUE[index % len(CATALOGUE)]
    return case


def stable_choice(case: Case) -> int:
    """A grounding choice (0..2) that depends on the case's content only."""
    return _digest(case) % 3


def _is_negative(case: Case) -> bool:
    # Grounding an invalid case could make it valid, and "accepted invalid data" a false alarm.
    return case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE


def _names(choice: int) -> Sequence[str]:
    return CATALOGUE[: choice % len(CATALOGUE) + 1]


def _fit_secret(body: dict[str, Any]) -> None:
    secret = body.get("secret")
    if isinstance(secret, str) and not 8 <= len(secret) <= 256:
        body["secret"] = (secret + "s" * 8)[:256]


def grounded(strategy: st.SearchStrategy[Case], receiver_url: str) -> st.SearchStrategy[Case]:
    """``strategy`` with about two thirds of its cases grounded."""
    return st.tuples(strategy, st.integers(0, 2)).map(
        lambda pair: ground(pair[0], pair[1], receiver_url)
    )
