"""Derived figures: one MetricSnapshot per token per day (period revenue reports:
revenue_reports.py).

Snapshots are computed once, after ingestion, so that pages and the API only read them.
A snapshot for day *d* uses only facts dated *d* or earlier.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, Sum
from django.utils import timezone

from . import bulk, metrics
from .models import (
    BOUGHT_KINDS,
    BURNED_KINDS,
    QUOTED_FIELDS,
    AccrualEvent,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    Token,
)

CHUNK_TOKENS = 200
# Revenue windows end at the newest revenue day; older than this, revenue metrics are blank.
REVENUE_MAX_LAG_DAYS = 7
# The longest look-back any metric needs: growth 90 d over the prior 90 d.
LOOKBACK_DAYS = 180
# Each kind of figure's places and, above them, what its column holds (models.py): a figure
# rounded to its places that does not fit is stored as no value.
RATIO_PLACES, RATIO_LIMIT = Decimal("1e-10"), Decimal("1e20")
MONEY_PLACES, MONEY_LIMIT = Decimal("1e-4"), Decimal("1e22")
PRICE_PLACES, PRICE_LIMIT = Decimal("1e-18"), Decimal("1e18")

SNAPSHOT_FIELDS = [
    "price_usd",
    "market_cap_usd",
    "fdv_usd",
    "volume_usd",
    "price_change_7d",
    "price_change_30d",
    "fees_30d",
    "revenue_30d",
    "holders_revenue_30d",
    "fees_annualised",
    "revenue_annualised",
    "holders_revenue_annualised",
    "buybacks_30d",
    "pf",
    "pf_fdv",
    "ps",
    "ps_fdv",
    "phr",
    "phr_fdv",
    "holder_yield",
    "buyback_yield",
    "revenue_growth_30d",
    "revenue_growth_90d",
    "burned_share",
    "holders_share",
    "price_source",
    "price_as_of",
    "revenue_source",
    "revenue_as_of",
    "computed_at",
]
SNAPSHOT_COLUMNS = ["token_id", "date", *SNAPSHOT_FIELDS]
COMPARED_FIELDS = [f for f in SNAPSHOT_FIELDS if f != "computed_at"]


def _ratio(value: Decimal | None) -> Decimal | None:
    return metrics.rounded(value, RATIO_PLACES, RATIO_LIMIT)


def _money(value: Decimal | None) -> Decimal | None:
    return metrics.rounded(value, MONEY_PLACES, MONEY_LIMIT)


def _price(value: Decimal | None) -> Decimal | None:
    return metrics.rounded(value, PRICE_PLACES, PRICE_LIMIT)


class _Rolling:
    """Prefix sums and counts of one daily series, so any window costs O(1)."""

    __slots__ = ("counts", "origin", "sums")

    def __init__(self, values: dict[dt.date, Decimal | None]) -> None:
        present = {day: v for day, v in values.items() if v is not None}
        self.origin = min(present) if present else None
        self.sums = [Decimal(0)]
        self.counts = [0]
        if self.origin is not None:
            add = metrics.EXACT.add
            span = (max(present) - self.origin).days + 1
            for offset in range(span):
                value = present.get(self.origin + dt.timedelta(days=offset))
                self.sums.append(add(self.sums[-1], value or 0))
                self.counts.append(self.counts[-1] + (value is not None))

    def _range(self, end: dt.date, days: int) -> tuple[Decimal, int]:
        if self.origin is None:
            return Decimal(0), 0
        hi = min(max((end - self.origin).days + 1, 0), len(self.sums) - 1)
        lo = min(max((end - self.origin).days + 1 - days, 0), len(self.sums) - 1)
        return metrics.EXACT.subtract(self.sums[hi], self.sums[lo]), self.counts[hi] - self.counts[lo]

    def total(self, end: dt.date, days: int) -> Decimal | None:
        """The window of ``days`` days ending on ``end``, or None if too few days have data."""
        total, present = self._range(end, days)
        return metrics.covered_total(total, days_present=present, window=days)

    def plain_sum(self, end: dt.date, days: int) -> Decimal | None:
        """For event flows (buybacks): days without an event are zero, not missing."""
        if self.origin is None:
            return None
        return self._range(end, days)[0]


@dataclass(slots=True)
class _Facts:
    """One token's facts, indexed by date, for the days a recompute needs."""

    prices: dict[dt.date, tuple]
    revenue: dict[dt.date, tuple]
    buybacks: dict[dt.date, Decimal]
    burned: list[tuple[dt.date, Decimal]]  # cumulative token amount burned, by date
    price_days: list[dt.date] = field(default_factory=list)
    revenue_days: list[dt.date] = field(default_factory=list)
    fees_series: _Rolling | None = None
    revenue_series: _Rolling | None = None
    holders_series: _Rolling | None = None
    buyback_series: _Rolling | None = None
    burn_days: list[dt.date] = field(default_factory=list)

    def index(self) -> None:
        self.price_days = sorted(self.prices)
        self.revenue_days = sorted(self.revenue)
        self.fees_series = _Rolling({d: row[0] for d, row in self.revenue.items()})
        self.revenue_series = _Rolling({d: row[1] for d, row in self.revenue.items()})
        self.holders_series = _Rolling({d: row[2] for d, row in self.revenue.items()})
        self.buyback_series = _Rolling(self.buybacks)
        self.burn_days = [d for d, _ in self.burned]


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


def _latest_on_or_before(sorted_days: Sequence[dt.date], day: dt.date) -> dt.date | None:
    position = bisect_right(sorted_days, day)
    return sorted_days[position - 1] if position else None


@dataclass(frozen=True, slots=True)
class RevenueFigures:
    """The revenue side of a snapshot: fixed by the newest revenue day, not by the price."""

    fees_30d: Decimal | None
    revenue_30d: Decimal | None
    holders_30d: Decimal | None
    growth_30d: Decimal | None
    growth_90d: Decimal | None
    source: str
    as_of: dt.datetime

    @property
    def revenue_day(self) -> dt.date:
        return self.as_of.date() - dt.timedelta(days=1)

    @classmethod
    def of_snapshot(cls, snapshot: MetricSnapshot) -> RevenueFigures | None:
        if snapshot.revenue_as_of is None:
            return None
        return cls(
            snapshot.fees_30d,
            snapshot.revenue_30d,
            snapshot.holders_revenue_30d,
            snapshot.revenue_growth_30d,
            snapshot.revenue_growth_90d,
            snapshot.revenue_source,
            snapshot.revenue_as_of,
        )


def _revenue_figures(facts: _Facts, day: dt.date) -> RevenueFigures | None:
    revenue_day = _latest_on_or_before(facts.revenue_days, day)
    if revenue_day is None:
        return None
    revenue_30d = facts.revenue_series.total(revenue_day, 30)
    prior_30 = facts.revenue_series.total(revenue_day - dt.timedelta(days=30), 30)
    last_90 = facts.revenue_series.total(revenue_day, 90)
    prior_90 = facts.revenue_series.total(revenue_day - dt.timedelta(days=90), 90)
    return RevenueFigures(
        fees_30d=facts.fees_series.total(revenue_day, 30),
        revenue_30d=revenue_30d,
        holders_30d=facts.holders_series.total(revenue_day, 30),
        growth_30d=metrics.growth(revenue_30d, prior_30),
        growth_90d=metrics.growth(last_90, prior_90),
        source=facts.revenue[revenue_day][3],
        as_of=_day_end(revenue_day),
    )


def compute_snapshot(token: _Supply | Token, facts: _Facts, day: dt.date, *, now: dt.datetime) -> tuple | None:
    """Every metric of ``token`` on ``day`` from the facts dated ``day`` or earlier."""
    price_day = _latest_on_or_before(facts.price_days, day)
    price_row = week_ago = month_ago = None
    if price_day is not None:
        price_row = facts.prices[price_day]
        week_ago = facts.prices.get(price_day - dt.timedelta(days=7))
        month_ago = facts.prices.get(price_day - dt.timedelta(days=30))
    burns_to_date = bisect_right(facts.burn_days, day)
    return assemble_snapshot(
        token,
        day,
        price_row=price_row,
        price_7d_ago=week_ago[0] if week_ago else None,
        price_30d_ago=month_ago[0] if month_ago else None,
        revenue=_revenue_figures(facts, day),
        buybacks_30d=facts.buyback_series.plain_sum(day, 30),
        burned=facts.burned[burns_to_date - 1][1] if burns_to_date else None,
        now=now,
    )


def assemble_snapshot(
    token: _Supply | Token,
    day: dt.date,
    *,
    price_row: tuple | None,
    price_7d_ago: Decimal | None,
    price_30d_ago: Decimal | None,
    revenue: RevenueFigures | None,
    buybacks_30d: Decimal | None,
    burned: Decimal | None,
    now: dt.datetime,
) -> tuple | None:
    """A snapshot from its parts, as a row in SNAPSHOT_COLUMNS order (token_id, date,
    *SNAPSHOT_FIELDS); ``price_row`` is (price, cap, fdv, volume, source, observed_at)."""
    if revenue is not None and (day - revenue.revenue_day).days > REVENUE_MAX_LAG_DAYS:
        revenue = None
    if price_row is None and revenue is None:
        return None
    price, market_cap, fdv, volume, price_source, price_as_of = price_row or (None, None, None, None, "", None)
    if fdv is None:  # the multiples on FDV divide the FDV as stored
        fdv = _money(metrics.fdv(price, token.max_supply or token.total_supply))
    fees_30d = revenue.fees_30d if revenue else None
    revenue_30d = revenue.revenue_30d if revenue else None
    hr_30d = revenue.holders_30d if revenue else None
    return (
        token.pk,
        day,
        _price(price),
        _money(market_cap),
        _money(fdv),
        _money(volume),
        _ratio(metrics.price_change(price, price_7d_ago)),
        _ratio(metrics.price_change(price, price_30d_ago)),
        _money(fees_30d),
        _money(revenue_30d),
        _money(hr_30d),
        _money(metrics.annualise(fees_30d)),
        _money(metrics.annualise(revenue_30d)),
        _money(metrics.annualise(hr_30d)),
        _money(buybacks_30d),
        _ratio(metrics.multiple(market_cap, fees_30d)),
        _ratio(metrics.multiple(fdv, fees_30d)),
        _ratio(metrics.multiple(market_cap, revenue_30d)),
        _ratio(metrics.multiple(fdv, revenue_30d)),
        _ratio(metrics.multiple(market_cap, hr_30d)),
        _ratio(metrics.multiple(fdv, hr_30d)),
        _ratio(metrics.holder_yield(hr_30d, market_cap)),
        _ratio(metrics.buyback_yield(buybacks_30d, market_cap)),
        _ratio(revenue.growth_30d if revenue else None),
        _ratio(revenue.growth_90d if revenue else None),
        _ratio(metrics.burned_share(burned, max_supply=token.max_supply, total_supply=token.total_supply)),
        _ratio(metrics.holders_share(hr_30d, revenue_30d)),
        price_source,
        price_as_of,
        revenue.source if revenue else "",
        revenue.as_of if revenue else None,
        now,
    )


@dataclass(frozen=True, slots=True)
class _Supply:
    pk: int
    max_supply: Decimal | None
    total_supply: Decimal | None


_CARRIED = [
    "fees_30d",
    "revenue_30d",
    "holders_revenue_30d",
    "revenue_growth_30d",
    "revenue_growth_90d",
    "revenue_source",
    "revenue_as_of",
]


def snapshots_reprice(
    *,
    token_ids: Iterable[int] | None,
    day: dt.date,
    computed_at: dt.datetime | None = None,
    supplies: Sequence[tuple] = (),
) -> int:
    """The day's snapshots after new quotes, cheaply: the revenue side is carried from each
    token's latest snapshot (revenue does not move intraday), the price side is read fresh;
    the figures are assemble_snapshot's, so exactly what a full recompute gives for that day,
    in a fixed handful of queries. ``token_ids=None`` means every token quoted that day.
    ``supplies``: the quoted tokens' supplies and ``quoted_at`` as just quoted, rows
    (id, *QUOTED_FIELDS) not yet stored; the figures use them, and each token's row is
    rewritten once, with its supplies and its latest-snapshot pointer together (a second
    rewrite in the transaction finds no room left on the page for a HOT update and adds an
    entry to each of the table's indexes: bench/README.md)."""
    ids = None if token_ids is None else list(token_ids)
    now = computed_at or timezone.now()
    with transaction.atomic():
        return _reprice(ids, day, now, {row[0]: row for row in supplies})


_QUOTED_AND_POINTER = ["id", *QUOTED_FIELDS, "latest_snapshot_id"]
_TOTAL, _MAX = 1 + QUOTED_FIELDS.index("total_supply"), 1 + QUOTED_FIELDS.index("max_supply")


def _reprice(ids: list[int] | None, day: dt.date, now: dt.datetime, quoted: dict[int, tuple]) -> int:
    scope = Q() if ids is None else Q(token_id__any=frozenset(ids))
    week, month = day - dt.timedelta(days=7), day - dt.timedelta(days=30)
    prices = {
        row[0]: row[1:]
        for row in PriceDay.objects.filter(scope, date=day)
        .order_by()
        .values_list("token_id", "price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "source", "observed_at")
    }
    tokens = list(
        Token.objects.filter(pk__any=frozenset(prices)).values_list(
            "pk", "max_supply", "total_supply", "latest_snapshot_id"
        )
    )
    # Each latest snapshot by its key: a join on the pointer lets PostgreSQL walk the whole
    # snapshot table (every day of every token) to find them.
    latest = {
        row[0]: row[1:]
        for row in MetricSnapshot.objects.filter(pk__any={t[3] for t in tokens if t[3]}).values_list(
            "pk", "date", *_CARRIED
        )
    }
    priced, fallback, pointers = [], [], {}
    for pk, max_supply, total_supply, snapshot_id in tokens:
        carried = latest.get(snapshot_id)
        if carried is None or carried[0] > day:  # no snapshot yet, or one after the day: in full
            fallback.append(pk)
            continue
        if pk in quoted:
            max_supply, total_supply = quoted[pk][_MAX], quoted[pk][_TOTAL]
        priced.append((pk, prices[pk], max_supply, total_supply, carried[1:]))
        pointers[pk] = snapshot_id if carried[0] == day else None  # None: moves to the day's new one
    if fallback:
        bulk.update_rows(Token, ["id", *QUOTED_FIELDS], [quoted[pk] for pk in fallback if pk in quoted])
        snapshots_recompute(token_ids=sorted(fallback), since=day, until=day, computed_at=now)
    # Quoted tokens not priced that day (a quote dated another day) keep only their supplies.
    bulk.update_rows(Token, ["id", *QUOTED_FIELDS], [row for pk, row in quoted.items() if pk not in prices])
    if not priced:
        return len(fallback)
    earlier = {
        (token_id, date): price
        for token_id, date, price in PriceDay.objects.filter(scope, date__in=[week, month])
        .order_by()
        .values_list("token_id", "date", "price_usd")
    }
    events = AccrualEvent.objects.filter(scope).order_by()
    bought = events.filter(kind__in=BOUGHT_KINDS, usd_amount__isnull=False)
    # 0 for a programme that bought nothing in the window; None where nothing was ever bought.
    buybacks = {
        token_id: total or Decimal(0)
        for token_id, total in bought.values("token_id")
        .annotate(total=Sum("usd_amount", filter=Q(date__range=(day - dt.timedelta(days=29), day))))
        .values_list("token_id", "total")
    }
    burned = dict(
        events.filter(kind__in=BURNED_KINDS, date__lte=day, token_amount__isnull=False)
        .values("token_id")
        .annotate(total=Sum("token_amount"))
        .values_list("token_id", "total")
    )
    rows = []
    for pk, price_row, max_supply, total_supply, (fees, revenue, holders, g30, g90, source, as_of) in priced:
        rows.append(
            assemble_snapshot(
                _Supply(pk, max_supply, total_supply),
                day,
                price_row=price_row,
                price_7d_ago=earlier.get((pk, week)),
                price_30d_ago=earlier.get((pk, month)),
                revenue=RevenueFigures(fees, revenue, holders, g30, g90, source, as_of) if as_of else None,
                buybacks_30d=buybacks.get(pk),
                burned=burned.get(pk),
                now=now,
            )
        )
    written = _snapshots_write(rows)
    moving = [pk for pk, pointer in pointers.items() if pointer is None]
    if moving:
        pointers.update(
            MetricSnapshot.objects.filter(token_id__any=frozenset(moving), date=day)
            .values_list("token_id", "pk")
            .order_by()
        )
    bulk.update_rows(Token, _QUOTED_AND_POINTER, [(*quoted[pk], pointers[pk]) for pk in pointers if pk in quoted])
    bulk.update_rows(Token, ["id", "latest_snapshot_id"], [(pk, pointers[pk]) for pk in moving if pk not in quoted])
    return len(written) + len(fallback)


def _snapshots_write(rows: list[tuple]) -> list[tuple]:
    """Write the snapshots that are new or differ from the stored ones (computed_at aside):
    a recompute of unchanged inputs writes nothing and keeps each snapshot's computed_at.
    Returns the (token_id, date) written."""
    return bulk.upsert_changed(
        MetricSnapshot,
        SNAPSHOT_COLUMNS,
        rows,
        unique_fields=["token_id", "date"],
        compare_fields=COMPARED_FIELDS,
        update_fields=SNAPSHOT_FIELDS,
    )


def _load_facts(token_ids: list[int], since: dt.date | None) -> dict[int, _Facts]:
    """Three queries for a chunk of tokens, whatever the number of days."""
    # Windows end at the newest revenue day, which may lag the snapshot day.
    window_start = since - dt.timedelta(days=LOOKBACK_DAYS + REVENUE_MAX_LAG_DAYS) if since else None
    date_filter = Q(date__gte=window_start) if window_start else Q()
    facts: dict[int, _Facts] = {t: _Facts({}, {}, {}, []) for t in token_ids}
    for row in (
        PriceDay.objects.filter(date_filter, token_id__in=token_ids)
        .order_by()
        .values_list(
            "token_id", "date", "price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "source", "observed_at"
        )
    ):
        facts[row[0]].prices[row[1]] = row[2:]
    for row in (
        RevenueDay.objects.filter(date_filter, token_id__in=token_ids)
        .order_by()
        .values_list("token_id", "date", "fees_usd", "revenue_usd", "holders_revenue_usd", "source")
    ):
        facts[row[0]].revenue[row[1]] = row[2:]
    burned_running: dict[int, Decimal] = defaultdict(Decimal)
    # Burns are cumulative from the first one, so they are read in full, not from the window.
    for token_id, day, kind, usd, amount in (
        AccrualEvent.objects.filter(token_id__in=token_ids)
        .order_by("token_id", "date")
        .values_list("token_id", "date", "kind", "usd_amount", "token_amount")
    ):
        # A buy-and-burn counts on both sides: money spent buying, tokens taken out of supply.
        if kind in BOUGHT_KINDS and usd is not None:
            facts[token_id].buybacks[day] = facts[token_id].buybacks.get(day, Decimal(0)) + usd
        if kind in BURNED_KINDS and amount is not None:
            burned_running[token_id] += amount
            facts[token_id].burned.append((day, burned_running[token_id]))
    for item in facts.values():
        item.index()
    return facts


def snapshots_recompute(
    *,
    token_ids: Iterable[int] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
    computed_at: dt.datetime | None = None,
    chunk_size: int = CHUNK_TOKENS,
) -> int:
    """Recompute the snapshots of the given tokens (all by default) from ``since`` on
    (all history by default), and point each token at its newest snapshot. Idempotent;
    a replay passes its data's as-of as ``computed_at`` so that it is byte-for-byte so."""
    tokens_qs = Token.objects.order_by("pk").only("pk", "max_supply", "total_supply")
    if token_ids is not None:
        tokens_qs = tokens_qs.filter(pk__in=list(token_ids))
    tokens = list(tokens_qs)
    now = computed_at or timezone.now()
    written = 0
    for start in range(0, len(tokens), chunk_size):
        chunk = tokens[start : start + chunk_size]
        facts = _load_facts([t.pk for t in chunk], since)
        rows = []
        for token in chunk:
            item = facts[token.pk]
            all_days = item.price_days + item.revenue_days
            if not all_days:
                continue
            first = max(min(all_days), since) if since else min(all_days)
            last = min(max(all_days), until) if until else max(all_days)
            day = first
            while day <= last:
                row = compute_snapshot(token, item, day, now=now)
                if row is not None:
                    rows.append(row)
                day += dt.timedelta(days=1)
        with transaction.atomic():
            changed = _snapshots_write(rows)
            latest_point_at([t.pk for t in chunk])
        written += len(changed)
        if progress:
            progress(len(chunk))
    return written


def latest_point_at(token_ids: list[int] | None) -> None:
    """Point each token's ``latest_snapshot`` (of every token, for None) at its newest
    snapshot, in one statement that writes only the tokens whose pointer moves."""
    newest = Subquery(MetricSnapshot.objects.filter(token=OuterRef("pk")).order_by("-date").values("pk")[:1])
    tokens = Token.objects.all() if token_ids is None else Token.objects.filter(pk__any=token_ids)
    tokens.exclude(latest_snapshot=newest).update(latest_snapshot=newest)
