"""Celery tasks for Top 10 lists: beat runs ``editorial.publish_due`` every minute."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from . import services

logger = logging.getLogger(__name__)


@shared_task(
    name="editorial.publish_due",
    acks_late=True,
    autoretry_for=(DatabaseError, ConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=50,
    time_limit=55,
)
def publish_due() -> dict:
    """Publishes the scheduled lists whose time has come; each list is its own transaction
    (row-locked), so a repeated or concurrent run publishes none twice."""
    result = services.publish_due()
    if result.published or result.failed:
        logger.info("scheduled lists: %s published, %s failed", len(result.published), len(result.failed))
    return {"published": result.published, "failed": {str(k): v for k, v in result.failed.items()}}
