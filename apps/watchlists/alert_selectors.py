"""Reads for alerts: a reader's rules and notifications (404 for anyone else's)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import User

from .models import AlertRule, Notification

NOTIFICATIONS_PAGE = 100


def rules_of(user: User) -> QuerySet[AlertRule]:
    return AlertRule.objects.filter(user=user).select_related("token", "watchlist")


def rule_for_user(*, user: User, pk: int) -> AlertRule:
    return get_object_or_404(AlertRule.objects.select_related("token", "watchlist"), pk=pk, user=user)


def notifications_of(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("token")[:NOTIFICATIONS_PAGE]


def notification_for_user(*, user: User, pk: int) -> Notification:
    return get_object_or_404(Notification, pk=pk, user=user)


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
