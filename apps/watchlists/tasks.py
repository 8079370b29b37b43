"""Celery tasks for alerts: thin wrappers taking plain parameters.

``alerts.evaluate`` is queued on commit after every refresh and every ratings recompute;
it is idempotent (each (rule, event) fires once), so a redelivered or repeated run adds
nothing. Acks are late (settings), so a worker that dies mid-run has its message redelivered.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import DatabaseError, transaction

from . import alerts, evaluation, webhooks

logger = logging.getLogger(__name__)

SOFT_LIMIT = 5 * 60
DIGEST_EXPIRES = 23 * 3600  # the digest runs daily: a backlog never sends two
TRANSIENT = (DatabaseError, ConnectionError)


def alerts_task(name: str, *, soft_limit: int = SOFT_LIMIT):
    """A task that acks late, retries database and connection hiccups with jittered backoff,
    and has soft and hard time limits (the hard one a minute later)."""
    return shared_task(
        name=name,
        acks_late=True,
        autoretry_for=TRANSIENT,
        retry_backoff=True,
        retry_jitter=True,
        max_retries=3,
        soft_time_limit=soft_limit,
        time_limit=soft_limit + 60,
    )


@alerts_task("alerts.evaluate")
def evaluate(day: str | None = None) -> dict:
    """Fires the rules matched by ``day``'s facts (ISO date; default: the newest snapshot day)
    and queues the immediate emails."""
    when = dt.date.fromisoformat(day) if day else evaluation.newest_day()
    if when is None:
        return {"skipped": True, "reason": "no snapshot yet"}
    result = evaluation.alerts_evaluate(day=when)
    if result.immediate:
        transaction.on_commit(send_immediate.delay)
    if result.matched:
        transaction.on_commit(deliver_webhooks.delay)
    logger.info("alerts for %s: %s matches", when, result.matched)
    return {"day": when.isoformat(), "matched": result.matched, "immediate": result.immediate}


def queue_evaluation(day: dt.date | None = None) -> None:
    """Queues ``alerts.evaluate`` once the caller's transaction commits."""
    transaction.on_commit(lambda: evaluate.delay(day.isoformat() if day else None))


@alerts_task("alerts.send_immediate")
def send_immediate() -> int:
    return alerts.alerts_send_immediate()


@alerts_task("alerts.send_digest", soft_limit=SOFT_LIMIT * 2)
def send_digest() -> int:
    return alerts.alerts_send_digest()


@alerts_task("webhooks.deliver")
def deliver_webhooks() -> dict:
    """Queues new notifications for their owners' webhooks and posts the due deliveries
    (every minute from beat, and after an evaluation that fired)."""
    added = webhooks.webhooks_enqueue()
    delivered = webhooks.webhooks_send_due()
    return {"queued": added, "delivered": delivered}
