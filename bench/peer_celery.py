"""The peer of scenario 9: what a Python team writes without Hookline.

A Celery app on the machine's Redis (``redis://127.0.0.1:6379/15``) with one task that signs the
body with HMAC-SHA256 and ``requests.post``s it, retried with exponential backoff on any
``requests`` error or non-2xx answer (``autoretry_for`` + ``retry_backoff``, 5 retries as
Hookline), acknowledged after it ran (``acks_late``: a killed worker does not lose it, as
Hookline's lease does not). No result backend.

    celery -A bench.peer_celery worker --pool threads --concurrency 64
"""

from __future__ import annotations

import hashlib
import hmac
import os

import requests
from celery import Celery

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")

app = Celery("hookline_bench_peer", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
)


@app.task(
    bind=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=5,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=5,
)
def deliver(self: object, url: str, secret: str, delivery_id: str, body: str) -> None:
    """POST one signed delivery; raise (and so retry) on a network error or a non-2xx answer."""
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hookline-Event": "ReportPublished",
        "X-Hookline-Delivery": delivery_id,
        "X-Authorization-HMAC-256": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }
    response = requests.post(url, data=raw, headers=headers, timeout=5)
    response.raise_for_status()
