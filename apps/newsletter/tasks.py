"""Celery tasks for the newsletter: thin wrappers taking plain parameters.

``newsletter.send_issue(issue_key)`` sends an issue (its renderer is found by the key's kind in
NEWSLETTER_RENDERERS); it is idempotent, so a redelivered message sends only what is left.
``newsletter.retry_failed_deliveries`` (beat, every 5 minutes) resumes unfinished sends and
retries failures that are due.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.db import DatabaseError

from . import delivery, emails
from .models import Subscription, SubscriptionStatus

logger = logging.getLogger(__name__)

SOFT_LIMIT = 50 * 60  # 10,000 messages at well under the measured rate (bench/README.md)
TRANSIENT = (DatabaseError, ConnectionError)


@shared_task(
    name="newsletter.send_issue",
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=SOFT_LIMIT,
    time_limit=SOFT_LIMIT + 60,
)
def send_issue(issue_key: str) -> dict:
    render = delivery.renderer_for(issue_key)
    if render is None:
        logger.error("newsletter issue %s: no renderer, or the issue does not exist; nothing sent", issue_key)
        return {"issue_key": issue_key, "skipped": True}
    return asdict(delivery.send_issue(issue_key=issue_key, render=render))


@shared_task(
    name="newsletter.retry_failed_deliveries",
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=SOFT_LIMIT,
    time_limit=SOFT_LIMIT + 60,
)
def retry_failed_deliveries() -> list[dict]:
    return [asdict(r) for r in delivery.retry_failed_deliveries()]


@shared_task(name="newsletter.send_signup_email", acks_late=True, autoretry_for=TRANSIENT, max_retries=3)
def send_signup_email(subscription_id: int) -> str:
    """The email a sign-up asks for, by the address's state when it runs."""
    subscription = Subscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return "gone"
    if subscription.status == SubscriptionStatus.PENDING and subscription.confirm_nonce:
        emails.send_confirmation(subscription)
        return "confirmation"
    if subscription.status == SubscriptionStatus.CONFIRMED:
        emails.send_already_subscribed(subscription)
        return "already_subscribed"
    return "none"  # suppressed: the address does not take mail
