"""Writes for subscriptions: sign-up, confirmation, unsubscribe. The answer a visitor sees
never depends on the address's state; the emails (queued on commit) do the telling. Also the
failures that count against an address: refusals at send time and bounces by email."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User

from . import links
from .bounces import Bounce
from .models import BounceKind, Delivery, Subscription, SubscriptionStatus

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


def subscription_record_failure(*, subscription_id: int, error: str, now: dt.datetime) -> bool:
    """One more consecutive failure against the address (a refusal, a soft bounce); at
    NEWSLETTER_SUPPRESS_AFTER a confirmed address is suppressed. True if this suppressed it."""
    Subscription.objects.filter(pk=subscription_id).update(failure_count=F("failure_count") + 1, last_error=error)
    return bool(
        Subscription.objects.filter(
            pk=subscription_id,
            status=SubscriptionStatus.CONFIRMED,
            failure_count__gte=settings.NEWSLETTER_SUPPRESS_AFTER,
        ).update(status=SubscriptionStatus.SUPPRESSED, suppressed_at=now)
    )


# A delivery keeps its strongest bounce; a bounce no stronger than the one kept changes nothing,
# so the same bounce twice (or a second "delayed" for one message) counts once.
BOUNCE_STRENGTH = {"": 0, BounceKind.TRANSIENT: 1, BounceKind.PERMANENT: 2, BounceKind.COMPLAINT: 2}


@dataclass(frozen=True)
class BounceOutcome:
    changed: bool
    summary: str  # what was done, in words (the command prints it)


def delivery_bounce_record(*, bounce: Bounce, now: dt.datetime | None = None) -> BounceOutcome:
    """Applies a parsed bounce (bounces.parse_bounce) to its delivery and subscription: a hard
    bounce or complaint suppresses the address at once; a soft one counts like a refusal."""
    if bounce.ignored or bounce.delivery_id is None:
        return BounceOutcome(False, f"ignored: {bounce.reason}")
    now = now or timezone.now()
    kind = BounceKind(bounce.kind)
    weaker = [k for k, strength in BOUNCE_STRENGTH.items() if strength < BOUNCE_STRENGTH[kind]]
    label = f"{kind.label.lower()} for delivery {bounce.delivery_id}"
    with transaction.atomic():
        delivery = Delivery.objects.filter(pk=bounce.delivery_id).values("subscription_id", "bounce").first()
        if delivery is None:
            return BounceOutcome(False, f"ignored: delivery {bounce.delivery_id} no longer exists")
        subscription_id = delivery["subscription_id"]
        recorded = Delivery.objects.filter(pk=bounce.delivery_id, bounce__in=weaker).update(
            bounce=kind, bounce_reason=bounce.reason, bounced_at=now
        )
        if not recorded:
            return BounceOutcome(False, f"{label}: already recorded, nothing changed")
        error = f"{kind.label}: {bounce.reason}"[:300]
        if kind == BounceKind.TRANSIENT:
            if subscription_record_failure(subscription_id=subscription_id, error=error, now=now):
                return BounceOutcome(True, f"{label}: subscription {subscription_id} suppressed (too many failures)")
            count = Subscription.objects.filter(pk=subscription_id).values_list("failure_count", flat=True).first()
            return BounceOutcome(
                True,
                f"{label}: counted against subscription {subscription_id} "
                f"({count} of {settings.NEWSLETTER_SUPPRESS_AFTER} before suppression)",
            )
        # A pending address (signed up again since) is as dead; an unsubscribed one stays as it chose.
        suppressed = Subscription.objects.filter(
            pk=subscription_id, status__in=[SubscriptionStatus.CONFIRMED, SubscriptionStatus.PENDING]
        ).update(status=SubscriptionStatus.SUPPRESSED, suppressed_at=now, last_error=error, confirm_nonce="")
        if suppressed:
            return BounceOutcome(True, f"{label}: subscription {subscription_id} suppressed")
        status = Subscription.objects.filter(pk=subscription_id).values_list("status", flat=True).first()
        return BounceOutcome(True, f"{label}: recorded; subscription {subscription_id} was already {status}")
