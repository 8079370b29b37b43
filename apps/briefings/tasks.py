"""Celery tasks for the daily briefing: beat runs ``briefings.build_and_send`` every five
minutes; it builds the day's briefing when due and queues ``briefings.send`` once."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.db import DatabaseError, transaction

from . import services

logger = logging.getLogger(__name__)
SEND_SOFT_LIMIT = 50 * 60  # as the newsletter's own send task: 10,000 subscribers well within it


@shared_task(
    name="briefings.build_and_send",
    acks_late=True,
    autoretry_for=(DatabaseError, ConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=270,
)
def build_and_send() -> dict:
    """Build the day's briefing when it is due; queue its send when it turns ready."""
    step = services.briefing_advance()
    if step.action == "ready":
        day = step.day.isoformat()
        logger.info("briefing %s ready: queueing its send", day)
        transaction.on_commit(lambda: send.delay(day))
    return {"day": step.day.isoformat(), "action": step.action}


@shared_task(
    name="briefings.send",
    acks_late=True,
    autoretry_for=(DatabaseError, ConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=SEND_SOFT_LIMIT,
    time_limit=SEND_SOFT_LIMIT + 60,
)
def send(day: str) -> dict:
    """Email ``day``'s ready briefing to every confirmed subscriber through the newsletter's
    delivery engine, then mark it sent. Idempotent: a repeated run sends only what is left."""
    result = services.briefing_send(day=day)
    if result is None:
        logger.error("briefing %s: no ready or sent briefing of that day; nothing sent", day)
        return {"issue_key": f"briefing:{day}", "skipped": True}
    return asdict(result)
