"""Reads for the newsletter pages and its senders."""

from __future__ import annotations

import datetime as dt

from allauth.account.models import EmailAddress
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User

from .models import Delivery, DeliveryStatus, Subscription, SubscriptionStatus


def subscription_for_user(user: User) -> Subscription | None:
    """The reader's subscription: linked to the account, or at the account's address."""
    return Subscription.objects.filter(Q(user=user) | Q(email=user.email.strip().lower())).order_by("-user_id").first()


def has_verified_address(user: User, email: str) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def issue_recipients_left(issue_key: str, *, now: dt.datetime | None = None) -> int:
    """How many confirmed subscribers a ``send_issue`` of ``issue_key`` now would email: those
    with no delivery of it yet, and those whose delivery is queued, left claimed or failed
    and due (two queries). Unknown, sent and skipped ones are never sent again."""
    now = now or timezone.now()
    confirmed = Subscription.objects.filter(status=SubscriptionStatus.CONFIRMED)
    new = confirmed.exclude(deliveries__issue_key=issue_key).count()
    due = Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED]) | Q(
        status=DeliveryStatus.FAILED, next_attempt_at__lte=now
    )
    left = Delivery.objects.filter(due, issue_key=issue_key, subscription__status=SubscriptionStatus.CONFIRMED).count()
    return new + left
