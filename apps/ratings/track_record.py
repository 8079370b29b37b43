"""The ratings' track record: how tokens of each Investor band at past month-ends went on
to trade over the next 30 and 90 days, and each band's cumulative return."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.core.cache import cache
from django.db.models import Max, Min

from apps.tokens.models import PriceDay

from .models import Rating
from .selectors import BANDS, VERSION, RatingsAsOf, ratings_as_of

FORWARD_DAYS = (30, 90)


@dataclass
class BandReturns:
    band: str
    count: int = 0
    returns: dict[int, list[float]] = field(default_factory=lambda: {days: [] for days in FORWARD_DAYS})

    def average(self, days: int) -> float | None:
        values = self.returns[days]
        return sum(values) / len(values) if values else None

    def hit_rate(self, days: int) -> float | None:
        values = self.returns[days]
        return sum(v > 0 for v in values) / len(values) if values else None

    def measured(self, days: int) -> int:
        return len(self.returns[days])

    @property
    def stats(self) -> list[tuple[int, float | None, float | None, int]]:
        """(days, average, hit rate, how many measured) for each forward window."""
        return [(days, self.average(days), self.hit_rate(days), self.measured(days)) for days in FORWARD_DAYS]


ALL_RATED = "all"  # the equal-weighted group of every token with an Investor grade


@dataclass
class MonthEnd:
    date: dt.date
    bands: list[BandReturns]
    complete: dict[int, bool]  # forward window fully in the past, per window
    all_rated: BandReturns = field(default_factory=lambda: BandReturns(ALL_RATED))


@dataclass(frozen=True)
class CumulativeLine:
    """A group's cumulative return from the first month-end: held equal-weighted from each
    month-end to the next, then regrouped. ``points``: (month-end, cumulative return, tokens
    measured over the month that ends there — 0 on the first point)."""

    key: str  # a band's letter, or ALL_RATED
    points: list[tuple[dt.date, float, int]]


@dataclass
class TrackRecord:
    months: list[MonthEnd]
    overall: list[BandReturns]
    prices_until: dt.date | None
    all_rated: BandReturns = field(default_factory=lambda: BandReturns(ALL_RATED))
    cumulative: list[CumulativeLine] = field(default_factory=list)

    def chart(self) -> dict[str, Any]:
        """The cumulative lines for the page's chart (json_script), in percent."""
        return {
            "lines": [
                {
                    "key": line.key,
                    "points": [
                        {"time": day.isoformat(), "value": round(value * 100, 2)} for day, value, _ in line.points
                    ],
                }
                for line in self.cumulative
            ]
        }

    @property
    def cumulative_rows(self) -> list[tuple[dt.date, list[tuple[float, int] | None]]]:
        """The chart as a table: each month-end, and per line its cumulative return and tokens measured."""
        by_key = {line.key: {day: (value, n) for day, value, n in line.points} for line in self.cumulative}
        days = sorted({day for line in self.cumulative for day, _, _ in line.points})
        return [(day, [by_key[line.key].get(day) for line in self.cumulative]) for day in days]


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every last day of a month from ``first`` to ``last`` inclusive."""
    ends = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        end = following - dt.timedelta(days=1)
        if first <= end <= last:
            ends.append(end)
        month = following
    return ends


def track_record(*, as_of: RatingsAsOf | None = None) -> TrackRecord:
    """For each past month-end, tokens grouped by the Investor band of their rating dated
    that day — a rating computed from data up to that day only — with the average and hit
    rate (share above zero) of their price change over the next 30 and 90 days, beside the
    same for all rated tokens together (equal-weighted); and each group's cumulative return
    from month-end to month-end. A window not yet over is measured on the tokens it can be,
    and flagged incomplete."""
    as_of = as_of or ratings_as_of()
    stamp = as_of.computed_at.timestamp() if as_of.computed_at else 0
    key = f"ratings:track-record:{VERSION}:{as_of.date}:{stamp}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    record = _track_record()
    cache.set(key, record, 24 * 3600)  # the stamp in the key retires it
    return record


def _track_record() -> TrackRecord:
    bounds = Rating.objects.filter(methodology_version=VERSION).aggregate(first=Min("date"), last=Max("date"))
    prices_until = PriceDay.objects.aggregate(last=Max("date"))["last"]
    if bounds["first"] is None or prices_until is None:
        return TrackRecord([], [], prices_until)
    # A month-end counts once its month is over: the newest rating day ends no month early.
    ends = month_ends(bounds["first"], min(bounds["last"], prices_until))
    if not ends:
        return TrackRecord([], [], prices_until)
    grouped = list(
        Rating.objects.filter(methodology_version=VERSION, date__in=ends)
        .exclude(investor_grade="")
        .values_list("token_id", "date", "investor_grade")
    )
    wanted = {end + dt.timedelta(days=days) for end in ends for days in (0, *FORWARD_DAYS)}
    prices = {
        (token_id, day): price
        for token_id, day, price in PriceDay.objects.filter(
            token_id__in={t for t, _, _ in grouped}, date__in=wanted, price_usd__gt=0
        ).values_list("token_id", "date", "price_usd")
    }
    by_month: dict[dt.date, dict[str, BandReturns]] = defaultdict(dict)
    overall = {band: BandReturns(band) for band in (*BANDS, ALL_RATED)}
    for token_id, day, band in grouped:
        month = by_month[day]
        start = prices.get((token_id, day))
        for key in (band, ALL_RATED):  # each token counts in its band and among all rated
            group = month.setdefault(key, BandReturns(key))
            group.count += 1
            overall[key].count += 1
            for days in FORWARD_DAYS:
                end = prices.get((token_id, day + dt.timedelta(days=days)))
                if start and end:
                    change = float(end / start - 1)
                    group.returns[days].append(change)
                    overall[key].returns[days].append(change)
    months = [
        MonthEnd(
            date=end,
            bands=[by_month[end].get(band) or BandReturns(band) for band in BANDS],
            complete={days: end + dt.timedelta(days=days) <= prices_until for days in FORWARD_DAYS},
            all_rated=by_month[end].get(ALL_RATED) or BandReturns(ALL_RATED),
        )
        for end in sorted(by_month, reverse=True)
    ]
    return TrackRecord(
        months=months,
        overall=[overall[band] for band in BANDS],
        prices_until=prices_until,
        all_rated=overall[ALL_RATED],
        cumulative=_cumulative(grouped, ends, prices),
    )


def _cumulative(
    grouped: list[tuple[int, dt.date, str]], ends: list[dt.date], prices: dict[tuple[int, dt.date], Decimal]
) -> list[CumulativeLine]:
    """Each band's and all rated tokens' cumulative return over consecutive month-ends: at
    each month-end the tokens of a group are held equal-weighted to the next month-end, and
    the month's return is the mean of theirs (a token without a price at either end is left
    out of that month; a month with none measured adds nothing). The lines start at the first
    month-end with a graded token; none before two month-ends."""
    members: dict[tuple[dt.date, str], list[int]] = defaultdict(list)
    for token_id, day, band in grouped:
        members[day, band].append(token_id)
        members[day, ALL_RATED].append(token_id)
    ends = ends[next((n for n, end in enumerate(ends) if (end, ALL_RATED) in members), len(ends)) :]
    if len(ends) < 2:
        return []
    lines = []
    for key in (*BANDS, ALL_RATED):
        level, points = 1.0, [(ends[0], 0.0, 0)]
        for start, end in pairwise(ends):
            changes = [
                float(prices[token_id, end] / prices[token_id, start] - 1)
                for token_id in members.get((start, key), ())
                if (token_id, start) in prices and (token_id, end) in prices
            ]
            if changes:
                level *= 1 + sum(changes) / len(changes)
            points.append((end, level - 1, len(changes)))
        if any(measured for _, _, measured in points):
            lines.append(CumulativeLine(key, points))
    return lines
