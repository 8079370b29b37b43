"""Writes for alerts: rules (with the plan's limit), notifications read, and the emails.

Emails claim their notifications first with a conditional update that stamps ``emailed_at``
on unsent rows only; a worker then reads back the rows carrying its own stamp. Two workers
running at once therefore never send the same notification twice. A send that fails puts
its rows back (``emailed_at`` cleared) for the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import plan_for
from apps.tokens.models import Token

from .models import (
    KINDS_WITHOUT_DIRECTION,
    KINDS_WITHOUT_THRESHOLD,
    AlertDelivery,
    AlertDirection,
    AlertKind,
    AlertRule,
    Notification,
    Watchlist,
)
from .services import LimitReached, _limit_message, _lock_user

logger = logging.getLogger(__name__)


@transaction.atomic
def alert_rule_create(
    *,
    user: User,
    kind: str,
    token: Token | None = None,
    watchlist: Watchlist | None = None,
    threshold: Decimal | None = None,
    direction: str = AlertDirection.ANY,
    delivery: str = AlertDelivery.IN_APP,
) -> AlertRule:
    """A new rule on one token or on one of the reader's watchlists. Raises ValidationError
    for a rule that cannot fire as given, LimitReached at the plan's limit."""
    if (token is None) == (watchlist is None):
        raise ValidationError("Choose either a token or one of your watchlists.", code="target")
    if watchlist is not None and watchlist.user_id != user.pk:
        raise ValidationError("That watchlist is not one of yours.", code="watchlist")
    kind = AlertKind(kind)
    if kind in KINDS_WITHOUT_THRESHOLD:
        threshold = None
    elif threshold is None or threshold <= 0:
        raise ValidationError("Give a threshold greater than 0.", code="threshold")
    if kind in KINDS_WITHOUT_DIRECTION:
        direction = AlertDirection.ANY
    _lock_user(user)
    if watchlist is not None and not Watchlist.objects.filter(pk=watchlist.pk).exists():  # deleted meanwhile
        raise ValidationError("That watchlist is not one of yours.", code="watchlist")
    plan = plan_for(user)
    if AlertRule.objects.filter(user=user).count() >= plan.max_alert_rules:
        rules = f"{plan.max_alert_rules} alert rule{'s' if plan.max_alert_rules != 1 else ''}"
        raise LimitReached(_limit_message(user, rules))
    return AlertRule.objects.create(
        user=user,
        kind=kind,
        token=token,
        watchlist=watchlist,
        threshold=threshold,
        direction=AlertDirection(direction),
        delivery=AlertDelivery(delivery),
    )


@transaction.atomic
def alert_rule_change(*, rule: AlertRule, is_active: bool | None = None, threshold: Decimal | None = None) -> AlertRule:
    """Pauses or resumes the rule and/or moves its threshold (None: unchanged). Raises
    ValidationError, nothing changed, for a threshold the rule's kind cannot take, and
    AlertRule.DoesNotExist when the rule was deleted meanwhile."""
    # The row locked and read afresh: two changes at once never undo each other's field.
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    if threshold is not None:
        if rule.kind in KINDS_WITHOUT_THRESHOLD:
            raise ValidationError("This kind of alert has no threshold.", code="threshold")
        if threshold <= 0:
            raise ValidationError("The threshold must be greater than 0.", code="threshold")
        rule.threshold = threshold
    if is_active is not None:
        rule.is_active = is_active
    rule.save(update_fields=["is_active", "threshold"])
    return rule


def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()


def notification_mark_read(*, notification: Notification) -> Notification:
    """Raises Notification.DoesNotExist when it was deleted meanwhile (its token or rule gone)."""
    if notification.read_at is None:
        now = timezone.now()
        if not Notification.objects.filter(pk=notification.pk).update(read_at=Coalesce("read_at", Value(now))):
            raise Notification.DoesNotExist(f"Notification {notification.pk} was deleted")
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


# --- Email ------------------------------------------------------------------------------


def _claim(delivery: str) -> list[Notification]:
    """Stamps this run's time on every unsent notification of ``delivery`` and returns the
    rows carrying that stamp: only rows no other run claimed first."""
    stamp = timezone.now()
    # Two runs in the same microsecond would share a stamp: step past any stamp in use.
    while Notification.objects.filter(emailed_at=stamp).exists():
        stamp += dt.timedelta(microseconds=1)
    Notification.objects.filter(delivery=delivery, emailed_at__isnull=True).update(emailed_at=stamp)
    return list(
        Notification.objects.filter(delivery=delivery, emailed_at=stamp)
        .select_related("user")
        .order_by("user_id", "created_at", "pk")
    )


def _release(rows: list[Notification]) -> None:
    Notification.objects.filter(pk__in=[n.pk for n in rows]).update(emailed_at=None)


def _link() -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{base}{reverse('alerts:notifications')}"


def _send(user: User, subject: str, rows: list[Notification]) -> bool:
    body = "\n".join(f"- {n.message}" for n in rows)
    body += f"\n\nYour notifications: {_link()}\nChange or pause your alerts on the Alerts page.\n"
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # any mail failure: the rows go back for the next run
        logger.exception("alert email to user %s failed; will retry", user.pk)
        _release(rows)
        return False
    return True


def alerts_send_immediate() -> int:
    """One email per unsent immediate notification; returns the emails sent."""
    sent = 0
    for n in _claim(AlertDelivery.IMMEDIATE):
        sent += _send(n.user, f"Accrual alert: {n.message}"[:200], [n])
    return sent


def alerts_send_digest() -> int:
    """One email per reader with all their unsent digest notifications; returns the emails sent."""
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for n in _claim(AlertDelivery.DIGEST):
        by_user[n.user_id].append(n)
    sent = 0
    for rows in by_user.values():
        count = len(rows)
        subject = f"Accrual daily digest: {count} alert{'s' if count != 1 else ''}"
        sent += _send(rows[0].user, subject, rows)
    return sent
