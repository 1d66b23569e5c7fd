"""A Hookline webhook receiver in FastAPI: verify, deduplicate, answer fast, work later.

Run it (the secret is the webhook's ``secret``):

    SECRET='a-long-shared-secret' uvicorn examples.receivers.python_fastapi:app --port 8000

and point a webhook at ``http://<this host>:8000/hookline``. It answers 200 to a delivery whose
signature is valid (and to a repeat of one it has already seen), 401 when the signature is
missing or wrong, and does the real work after answering. It prints one line per verified
delivery. Standard library and FastAPI only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import OrderedDict
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response

SECRET = os.environ["SECRET"].encode("utf-8")
SIGNATURE_HEADER = "X-Authorization-HMAC-256"
MAX_REMEMBERED = 100_000

app = FastAPI(title="Hookline receiver example")

# Delivery ids already accepted. In production use your database: a table with a unique
# constraint on the delivery id, written in the same transaction as the work it triggers.
seen: OrderedDict[str, None] = OrderedDict()


def signature_is_valid(body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body, hex, compared in constant time.

    The header is compared as bytes: ``hmac.compare_digest`` raises TypeError on non-ASCII
    text, and a forged header may contain anything.
    """
    if not header:
        return False
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, header.strip().lower().encode("utf-8"))


def process(delivery_id: str, payload: dict[str, Any]) -> None:
    """The real work, after the answer was sent. Keep the webhook handler itself fast."""
    data = json.dumps(payload["data"], ensure_ascii=False, sort_keys=True)
    print(f"verified {delivery_id} {payload['event']} {payload['id']} data={data}", flush=True)


@app.post("/hookline")
async def receive(request: Request, background: BackgroundTasks) -> Response:
    body = await request.body()  # the raw bytes: verify BEFORE parsing
    if not signature_is_valid(body, request.headers.get(SIGNATURE_HEADER)):
        print("rejected: invalid or missing signature", flush=True)
        return Response("invalid signature\n", status_code=401)
    delivery_id = request.headers.get("X-Hookline-Delivery", "")
    if delivery_id in seen:  # a retry of something already accepted: acknowledge, skip
        return Response("duplicate\n", status_code=200)
    seen[delivery_id] = None
    if len(seen) > MAX_REMEMBERED:
        seen.popitem(last=False)
    payload = json.loads(body)
    background.add_task(process, delivery_id, payload)
    return Response("ok\n", status_code=200)
