"""The token page's reads: its valuation beside category medians, supply warnings, chart
series, and the token's events and reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Value, When
from django.shortcuts import get_object_or_404

from . import metrics
from .models import (
    BOUGHT_KINDS,
    AccrualEvent,
    AccrualPolicy,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    Token,
)
from .selectors import GENERATION_CACHE_SECONDS, data_status

# Valuation metrics shown beside their category median, in display order:
# (field, label, what it is, format).
VALUATION_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("pf", "P/F", "market cap ÷ annualised fees", "multiple"),
    ("pf_fdv", "P/F on FDV", "fully diluted value ÷ annualised fees", "multiple"),
    ("ps", "P/S", "market cap ÷ annualised revenue", "multiple"),
    ("ps_fdv", "P/S on FDV", "fully diluted value ÷ annualised revenue", "multiple"),
    ("phr", "P/HR", "market cap ÷ annualised holders revenue", "multiple"),
    ("phr_fdv", "P/HR on FDV", "fully diluted value ÷ annualised holders revenue", "multiple"),
    ("holder_yield", "Holder yield", "annualised holders revenue ÷ market cap", "pct"),
    (
        "buyback_yield",
        "Buyback yield",
        "tokens bought from the market in the last 30 days (held or burned), in USD, annualised, ÷ market cap",
        "pct",
    ),
    ("revenue_growth_30d", "Revenue growth 30d", "last 30 days against the 30 before", "signed"),
    ("revenue_growth_90d", "Revenue growth 90d", "last 90 days against the 90 before", "signed"),
    ("burned_share", "Burned share", "tokens burned as a share of supply", "pct"),
    ("holders_share", "Holders' share", "share of revenue that reaches holders", "pct"),
)

# The token page shows the latest few events and reports; the rest are on pages of their own,
# so the page's HTML stays small whatever a token's history.
TOKEN_PAGE_EVENTS = 10
TOKEN_PAGE_REPORTS = 8
# The fewest tokens a category median may rest on.
MIN_MEDIAN_TOKENS = 3
# Chart history: about three years of days is plenty and bounds the page's weight.
CHART_MAX_DAYS = 1100


@dataclass(frozen=True)
class ValuationRow:
    field: str
    label: str
    hint: str
    format: str
    value: Decimal | None
    category_median: Decimal | None
    category_count: int  # the tokens with this figure, that the median rests on


# Market cap may stand this far above the FDV before it is flagged: CoinGecko rounds each
# to whole dollars and may price them at different instants.
MARKET_CAP_OVER_FDV_TOLERANCE = Decimal("0.001")


@dataclass(frozen=True)
class SupplyWarning:
    """Figures that cannot all be right: more tokens circulating than exist (``limit_name``
    "total supply" or "max supply", ``limit`` its amount), or a market cap above the FDV."""

    circulating: Decimal | None
    limit: Decimal | None
    limit_name: str
    market_cap: Decimal | None
    fdv: Decimal | None
    market_cap_above_fdv: bool


def supply_warning(token: Token, snapshot: MetricSnapshot | None) -> SupplyWarning | None:
    """A warning when the provider's supplies contradict each other. The figures stay shown as
    reported: hiding them would hide that the source is wrong."""
    circulating = token.circulating_supply
    limit, limit_name = None, ""
    if circulating is not None:
        for name, amount in (("total supply", token.total_supply), ("max supply", token.max_supply)):
            if amount is not None and circulating > amount and (limit is None or amount < limit):
                limit, limit_name = amount, name
    market_cap = snapshot.market_cap_usd if snapshot else None
    fdv = snapshot.fdv_usd if snapshot else None
    cap_above = market_cap is not None and fdv is not None and market_cap > fdv * (1 + MARKET_CAP_OVER_FDV_TOLERANCE)
    if limit is None and not cap_above:
        return None
    return SupplyWarning(
        circulating=circulating,
        limit=limit,
        limit_name=limit_name,
        market_cap=market_cap,
        fdv=fdv,
        market_cap_above_fdv=cap_above,
    )


@dataclass(frozen=True)
class TokenPage:
    token: Token
    snapshot: MetricSnapshot | None
    chains: list
    policies: list[AccrualPolicy]
    events: list[AccrualEvent]
    events_total: int
    reports: list[RevenueReport]
    reports_total: int
    valuation: list[ValuationRow]
    category_size: int
    has_chart: bool = False  # price or revenue history to draw (the data loads apart: token_chart)
    supply_warning: SupplyWarning | None = None


@dataclass(frozen=True)
class CategoryMedian:
    """A median and how many tokens it rests on (those with the figure); none below
    MIN_MEDIAN_TOKENS, where "median" would only restate one or two tokens' figures."""

    value: Decimal | None
    count: int


def _category_medians(category: str) -> tuple[dict[str, CategoryMedian], int]:
    """Each valuation metric's median over the latest snapshots of the category, and how many
    tokens there have a snapshot. The same for every token of the category, so kept until the
    data's next generation (a refresh or an editor's save)."""
    key = f"tokens:medians:{category}:{data_status().generation}"
    medians = cache.get(key)
    if medians is None:
        medians = _compute_category_medians(category)
        cache.set(key, medians, GENERATION_CACHE_SECONDS)
    return medians


def _compute_category_medians(category: str) -> tuple[dict[str, CategoryMedian], int]:
    fields = [name for name, *_ in VALUATION_METRICS]
    rows = list(
        Token.objects.filter(category=category, latest_snapshot__isnull=False).values_list(
            *(f"latest_snapshot__{name}" for name in fields)
        )
    )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    medians = {}
    for name, values in zip(fields, columns, strict=True):
        present = [v for v in values if v is not None]
        enough = len(present) >= MIN_MEDIAN_TOKENS
        medians[name] = CategoryMedian(value=metrics.median(present) if enough else None, count=len(present))
    return medians, len(rows)


def _token_chart(token: Token) -> dict[str, Any]:
    """Chart series as plain JSON-ready lists: dates as ISO strings, amounts as floats."""
    prices = list(
        PriceDay.objects.filter(token=token, price_usd__isnull=False)
        .order_by("-date")
        .values_list("date", "price_usd")[:CHART_MAX_DAYS]
    )
    prices.reverse()
    revenue_rows = list(
        RevenueDay.objects.filter(token=token, revenue_usd__isnull=False)
        .order_by("-date")
        .values_list("date", "revenue_usd", "holders_revenue_usd")[:CHART_MAX_DAYS]
    )
    revenue_rows.reverse()
    first_day = min((rows[0][0] for rows in (prices, revenue_rows) if rows), default=None)
    # Tokens bought from the market, held or burned (what buyback yield counts); a fee burn
    # spends nothing on the market.
    buyback_rows = AccrualEvent.objects.filter(token=token, kind__in=BOUGHT_KINDS, usd_amount__isnull=False)
    if first_day is not None:
        buyback_rows = buyback_rows.filter(date__gte=first_day)
    buybacks_by_day: dict[dt.date, Decimal] = {}
    for day, usd in buyback_rows.order_by("date").values_list("date", "usd_amount"):
        buybacks_by_day[day] = buybacks_by_day.get(day, Decimal(0)) + usd

    daily = []
    monthly: dict[dt.date, list] = {}
    for day, revenue, holders in revenue_rows:
        # Negative days are drawn below zero as stored (revenue nets out refunds and
        # incentives); holders revenue above a non-negative revenue is cut to it, as the
        # bars stack (holders over the whole revenue).
        holders = holders if holders is not None else Decimal(0)
        if 0 <= revenue < holders:
            holders = revenue
        protocol = revenue - holders
        daily.append({"time": day.isoformat(), "protocol": float(protocol), "holders": float(holders)})
        month = monthly.setdefault(day.replace(day=1), [Decimal(0), Decimal(0), 0])
        month[0] += protocol
        month[1] += holders
        month[2] += 1
    buybacks_monthly: dict[dt.date, Decimal] = {}
    for day, usd in buybacks_by_day.items():
        key = day.replace(day=1)
        buybacks_monthly[key] = buybacks_monthly.get(key, Decimal(0)) + usd
    return {
        "price": [{"time": day.isoformat(), "value": float(price)} for day, price in prices],
        "revenue_daily": daily,
        "revenue_monthly": [
            {"time": month.isoformat(), "protocol": float(p), "holders": float(h), "days": n}
            for month, (p, h, n) in sorted(monthly.items())
        ],
        "buybacks": [{"time": day.isoformat(), "usd": float(usd)} for day, usd in sorted(buybacks_by_day.items())],
        "buybacks_monthly": [
            {"time": month.isoformat(), "usd": float(usd)} for month, usd in sorted(buybacks_monthly.items())
        ],
    }


def _events(token: Token) -> QuerySet[AccrualEvent]:
    return AccrualEvent.objects.filter(token=token).order_by("-date", "-id")


def _reports(token: Token) -> QuerySet[RevenueReport]:
    """Editor-entered reports first, then a sample catalogue's generated stand-ins, then the
    computed ones; newest first within each."""
    entered = Case(
        When(source=Source.EDITOR, then=Value(0)),
        When(source=Source.SAMPLE, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    reports = RevenueReport.objects.filter(token=token).alias(entered=entered)
    return reports.order_by("entered", "-period_start", "period")


def token_events(slug: str) -> tuple[Token, QuerySet[AccrualEvent]]:
    """A token and all its buybacks, burns and distributions, newest first (404 for an unknown slug)."""
    token = get_object_or_404(Token, slug=slug)
    return token, _events(token)


def token_reports(slug: str) -> tuple[Token, QuerySet[RevenueReport]]:
    """A token and all its revenue reports in the token page's order (404 for an unknown slug)."""
    token = get_object_or_404(Token, slug=slug)
    return token, _reports(token)


def token_chart(slug: str) -> dict[str, Any]:
    """The token page's chart series (404 for an unknown slug). Apart from the page: years of
    daily points would be most of its HTML, and are only drawn once scrolled to."""
    return _token_chart(get_object_or_404(Token, slug=slug))


def token_page(slug: str) -> TokenPage:
    """Everything the token page shows, in a fixed number of queries (404 for an unknown slug)."""
    history = {
        "has_prices": Exists(PriceDay.objects.filter(token=OuterRef("pk"), price_usd__isnull=False)),
        "has_revenue": Exists(RevenueDay.objects.filter(token=OuterRef("pk"), revenue_usd__isnull=False)),
    }
    token = get_object_or_404(
        Token.objects.select_related("latest_snapshot").prefetch_related("chains").annotate(**history), slug=slug
    )
    snapshot = token.latest_snapshot
    events = _events(token)
    reports = _reports(token)
    medians, category_size = _category_medians(token.category)
    valuation = [
        ValuationRow(
            field=name,
            label=label,
            hint=hint,
            format=fmt,
            value=getattr(snapshot, name) if snapshot else None,
            category_median=medians[name].value,
            category_count=medians[name].count,
        )
        for name, label, hint, fmt in VALUATION_METRICS
    ]
    return TokenPage(
        token=token,
        snapshot=snapshot,
        chains=list(token.chains.all()),
        policies=list(AccrualPolicy.objects.filter(token=token).order_by("-since", "mechanism")),
        events=list(events[:TOKEN_PAGE_EVENTS]),
        events_total=events.count(),
        reports=list(reports[:TOKEN_PAGE_REPORTS]),
        reports_total=reports.count(),
        valuation=valuation,
        category_size=category_size,
        has_chart=token.has_prices or token.has_revenue,
        supply_warning=supply_warning(token, snapshot),
    )


__all__ = [
    "SupplyWarning",
    "TokenPage",
    "supply_warning",
    "token_chart",
    "token_events",
    "token_page",
    "token_reports",
]
