"""Writes for subscriptions: sign-up, confirmation, unsubscribe. The answer a visitor sees
never depends on the address's state; the emails (queued on commit) do the telling."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User

from . import links
from .models import Subscription, SubscriptionStatus

UA_MAX = 300


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


@dataclass(frozen=True)
class Client:
    """Who made a request: kept as consent evidence."""

    ip: str | None = None
    user_agent: str = ""


class SignupOutcome(enum.Enum):
    CONFIRMATION_SENT = "confirmation_sent"  # also: "already subscribed" notice, or nothing (suppressed)
    SUBSCRIBED = "subscribed"  # a reader's own verified address: confirmed at once


def _queue_signup_email(subscription_id: int) -> None:
    from .tasks import send_signup_email

    transaction.on_commit(lambda: send_signup_email.delay(subscription_id))


def _confirm(subscription: Subscription, *, client: Client, now: dt.datetime) -> None:
    subscription.status = SubscriptionStatus.CONFIRMED
    subscription.confirmed_at = now
    subscription.confirm_ip = client.ip
    subscription.confirm_user_agent = client.user_agent[:UA_MAX]
    subscription.confirm_nonce = ""
    subscription.unsubscribed_at = None
    subscription.failure_count = 0


@transaction.atomic
def subscription_signup(
    *, email: str, client: Client, source: str = "", user: User | None = None, verified_own_address: bool = False
) -> SignupOutcome:
    """A pending subscription and a confirmation email (or, for an address already confirmed,
    a notice; for a suppressed one, nothing). ``verified_own_address``: the signed-in reader's
    own verified address, which needs no confirmation email."""
    email = normalise_email(email)
    now = timezone.now()
    # get_or_create survives two first sign-ups of one address at once; the lock orders them.
    created, _ = Subscription.objects.get_or_create(email=email, defaults={"signed_up_at": now})
    subscription = Subscription.objects.select_for_update().get(pk=created.pk)
    if user is not None and subscription.user_id is None and verified_own_address:
        subscription.user = user
    if subscription.status == SubscriptionStatus.CONFIRMED:
        if verified_own_address:
            subscription.save(update_fields=["user"])
            return SignupOutcome.SUBSCRIBED
        _queue_signup_email(subscription.pk)
        return SignupOutcome.CONFIRMATION_SENT
    subscription.signed_up_at = now
    subscription.signup_ip = client.ip
    subscription.signup_user_agent = client.user_agent[:UA_MAX]
    subscription.source = source[:200]
    if verified_own_address:
        _confirm(subscription, client=client, now=now)
        subscription.save()
        return SignupOutcome.SUBSCRIBED
    if subscription.status != SubscriptionStatus.SUPPRESSED:
        subscription.status = SubscriptionStatus.PENDING
        subscription.confirm_nonce = secrets.token_hex(16)
    subscription.save()
    _queue_signup_email(subscription.pk)
    return SignupOutcome.CONFIRMATION_SENT


class LinkUsed(Exception):
    """The link's nonce no longer matches: used already, or replaced by a newer sign-up."""


def confirm_lookup(token: str) -> Subscription:
    """The subscription a still-usable confirmation link points at. Raises links.LinkInvalid,
    links.LinkExpired, or LinkUsed."""
    pk, nonce = links.read_confirm_token(token)
    subscription = Subscription.objects.filter(pk=pk).first()
    if subscription is None or not nonce or subscription.confirm_nonce != nonce:
        raise LinkUsed
    return subscription


def subscription_confirm(*, token: str, client: Client) -> Subscription:
    """Confirms the subscription and records consent. The row lock and the cleared nonce let a
    link confirm once, even when clicked twice at the same time. Raises like ``confirm_lookup``."""
    pk, nonce = links.read_confirm_token(token)
    now = timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().filter(pk=pk).first()
        if subscription is None or not nonce or subscription.confirm_nonce != nonce:
            raise LinkUsed
        if subscription.status == SubscriptionStatus.PENDING:
            _confirm(subscription, client=client, now=now)
        subscription.confirm_nonce = ""
        subscription.save()
    return subscription


def subscription_unsubscribe(*, subscription_id: int) -> Subscription | None:
    """Unsubscribes; idempotent. A suppressed address stays suppressed (it does not mail anyway)."""
    now = timezone.now()
    Subscription.objects.filter(
        pk=subscription_id, status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED]
    ).update(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now, confirm_nonce="")
    return Subscription.objects.filter(pk=subscription_id).first()
