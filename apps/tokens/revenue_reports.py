"""Period revenue reports: monthly and quarterly statements summed from the daily revenue
facts and buyback events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth, TruncQuarter

from .models import BOUGHT_KINDS, AccrualEvent, RevenueDay, RevenueReport, Source


@transaction.atomic
def revenue_reports_build(*, token_ids: Iterable[int] | None = None) -> int:
    """Monthly and quarterly statements from daily facts (and buyback events: tokens bought
    from the market, held or burned), idempotently."""
    days = RevenueDay.objects.all()
    events = AccrualEvent.objects.filter(kind__in=BOUGHT_KINDS)
    if token_ids is not None:
        ids = list(token_ids)
        days = days.filter(token_id__in=ids)
        events = events.filter(token_id__in=ids)
    reports = []
    for period, trunc, span in (
        (RevenueReport.Period.MONTH, TruncMonth, _month_end),
        (RevenueReport.Period.QUARTER, TruncQuarter, _quarter_end),
    ):
        buybacks = {
            (row["token_id"], _as_date(row["start"])): row["usd"]
            for row in events.annotate(start=trunc("date")).values("token_id", "start").annotate(usd=Sum("usd_amount"))
        }
        for row in (
            days.annotate(start=trunc("date"))
            .values("token_id", "start")
            .annotate(
                fees=Sum("fees_usd"),
                revenue=Sum("revenue_usd"),
                holders=Sum("holders_revenue_usd"),
                covered=Count("id"),
            )
            .order_by()
        ):
            start = _as_date(row["start"])
            reports.append(
                RevenueReport(
                    token_id=row["token_id"],
                    period=period,
                    period_start=start,
                    period_end=span(start),
                    fees_usd=row["fees"],
                    revenue_usd=row["revenue"],
                    holders_revenue_usd=row["holders"],
                    buybacks_usd=buybacks.get((row["token_id"], start)),
                    days_covered=row["covered"],
                    source=Source.COMPUTED,
                )
            )
    RevenueReport.objects.bulk_create(
        reports,
        update_conflicts=True,
        unique_fields=["token", "period", "period_start", "source"],
        update_fields=["period_end", "fees_usd", "revenue_usd", "holders_revenue_usd", "buybacks_usd", "days_covered"],
        batch_size=1000,
    )
    return len(reports)


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _month_end(start: dt.date) -> dt.date:
    following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def _quarter_end(start: dt.date) -> dt.date:
    month = start.month + 2
    return _month_end(start.replace(month=month))
