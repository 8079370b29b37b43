"""Hand-built facts for alert tests: snapshots on the day, the day before and a week before,
rating changes and accrual events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import RatingChange
from apps.tokens.models import AccrualEvent, Source
from apps.watchlists.models import AlertRule
from tests.factories import MetricSnapshotFactory, TokenFactory

DAY = dt.date(2026, 12, 5)
YESTERDAY = DAY - dt.timedelta(days=1)
WEEK_AGO = DAY - dt.timedelta(days=7)

# Figures every snapshot starts from; a test overrides the day it changes.
BASE = {
    "price_usd": Decimal("10"),
    "revenue_annualised": Decimal("1000000"),
    "holders_revenue_annualised": Decimal("500000"),
    "ps": Decimal("8"),
    "phr": Decimal("16"),
}


def token_with_history(slug: str, *, today: dict | None = None, yesterday: dict | None = None, week_ago=None):
    """A token with snapshots on DAY, YESTERDAY and WEEK_AGO, all at BASE unless overridden."""
    token = TokenFactory(slug=slug, symbol=slug[:6].upper())
    for day, figures in ((WEEK_AGO, week_ago), (YESTERDAY, yesterday), (DAY, today)):
        MetricSnapshotFactory(token=token, date=day, **{**BASE, **(figures or {})})
    return token


def band_change(token, *, subject: str = "investor", before: str = "B", after: str = "A", day: dt.date = DAY):
    kind = RatingChange.Kind.SIGNAL_FLIP if subject == "signal" else RatingChange.Kind.BAND_CHANGE
    return RatingChange.objects.create(
        token=token,
        date=day,
        methodology_version=METHODOLOGY.version,
        kind=kind,
        subject=subject,
        before=before,
        after=after,
        created_at=timezone.now(),
    )


def accrual_event(token, *, usd: str, kind: str = "buyback", day: dt.date = DAY, reference: str = "0xabc"):
    return AccrualEvent.objects.create(
        token=token,
        date=day,
        kind=kind,
        usd_amount=Decimal(usd),
        reference=reference,
        source=Source.EDITOR,
        fetched_at=timezone.now(),
    )


def rule(user, *, token=None, watchlist=None, kind: str, threshold=None, direction="any", delivery="in_app"):
    return AlertRule.objects.create(
        user=user,
        token=token,
        watchlist=watchlist,
        kind=kind,
        threshold=Decimal(str(threshold)) if threshold is not None else None,
        direction=direction,
        delivery=delivery,
    )
