"""Reads for webhook pages: a reader's own webhooks only (anyone else's is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import User

from .models import Webhook, WebhookDelivery

LOG_LENGTH = 50


def webhooks_of(user: User) -> QuerySet[Webhook]:
    return Webhook.objects.filter(user=user).order_by("created_at", "pk")


def webhook_for_user(*, user: User, pk: int) -> Webhook:
    return get_object_or_404(Webhook, pk=pk, user=user)


def delivery_log(webhook: Webhook) -> list[WebhookDelivery]:
    """The newest deliveries, payloads left out (the log shows their event only)."""
    return list(
        WebhookDelivery.objects.filter(webhook=webhook).defer("payload").order_by("-created_at", "-pk")[:LOG_LENGTH]
    )
