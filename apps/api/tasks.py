"""Celery tasks for the API: beat runs ``api.record_usage`` every ten minutes."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from .quotas import UsageUnreadable
from .usage import usage_record

logger = logging.getLogger(__name__)


@shared_task(
    name="api.record_usage",
    acks_late=True,
    autoretry_for=(DatabaseError, UsageUnreadable),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=270,
)
def record_usage() -> dict:
    """Copy today's and yesterday's (UTC) per-key counts into the database; yesterday too, so
    the requests of its last minutes are kept after midnight. Idempotent."""
    today = timezone.now().astimezone(dt.UTC).date()
    results = [usage_record(day=day) for day in (today, today - dt.timedelta(days=1))]
    logger.info(
        "API usage recorded: %s",
        "; ".join(
            f"{r.day}: {r.keys} keys, {r.raised} rows raised, {r.unknown_prefixes} unknown prefixes" for r in results
        ),
    )
    return {r.day.isoformat(): {"keys": r.keys, "raised": r.raised, "unknown": r.unknown_prefixes} for r in results}
