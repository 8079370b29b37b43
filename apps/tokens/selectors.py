"""Reads shared by pages and the API, with the joins that keep query counts flat."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from . import metrics
from .models import (
    BOUGHT_KINDS,
    AccrualEvent,
    AccrualPolicy,
    DataSet,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    Token,
)


@dataclass(frozen=True)
class DataStatus:
    mode: str  # the data set the database holds: "sample", "live", or "" (nothing yet)
    as_of: dt.datetime | None
    # Changes when the data does (``data_changed``: a finished sync run, a data set claimed
    # or cleared, an editor's save), not with the status's minute: caches of what refreshes
    # change key on it, so a reader meets a cold page once per change, not once a minute.
    generation: str = ""


DATA_STATUS_CACHE_KEY = "tokens:data-status"
DATA_GENERATION_CACHE_KEY = "tokens:data-generation"


def data_changed() -> None:
    """Forget the data status and retire every cache keyed on the data's generation."""
    cache.delete_many([DATA_STATUS_CACHE_KEY, DATA_GENERATION_CACHE_KEY])


def data_generation() -> str:
    return cache.get_or_set(DATA_GENERATION_CACHE_KEY, lambda: uuid.uuid4().hex, None)


def data_status() -> DataStatus:
    """What the site shows: the data set the database records holding (never guessed from
    its figures), as of the newest price any token shows. Cached for a minute; cleared when
    the record changes and when a sync run finishes."""
    status = cache.get(DATA_STATUS_CACHE_KEY)
    if status is None:
        newest = Token.objects.order_by(F("latest_snapshot__price_as_of").desc(nulls_last=True)).values(
            "latest_snapshot__price_as_of"
        )[:1]
        held = DataSet.objects.values_list("mode", Subquery(newest)).first()  # one query where a set is held
        if held is None:
            held = ("", Token.objects.aggregate(as_of=Max("latest_snapshot__price_as_of"))["as_of"])
        status = DataStatus(mode=held[0], as_of=held[1], generation=data_generation())
        cache.set(DATA_STATUS_CACHE_KEY, status, 60)
    return status


def is_stale(as_of: dt.datetime | None, *, kind: str, source: str = "", now: dt.datetime | None = None) -> bool:
    """Whether a figure is older than its freshness threshold (settings, in hours). Sample
    figures are never "stale": every page already says they are sample data as of a date."""
    if not isinstance(as_of, dt.datetime) or source == Source.SAMPLE:
        return False
    hours = settings.PRICE_FRESHNESS_HOURS if kind == "price" else settings.REVENUE_FRESHNESS_HOURS
    return (now or timezone.now()) - as_of > dt.timedelta(hours=hours)


# --- Cached orders ---------------------------------------------------------------


class CachedOrder(Sequence):
    """Rows in an order kept in the cache as chunks of ids: a Paginator takes it like a list,
    and a page reads only its chunk of ids and its own rows (from ``rows``, with their joins),
    however long the list."""

    def __init__(self, ordered: QuerySet, *, name: str, rows: QuerySet) -> None:
        # Not ``self.ordered``: Paginator reads an ``ordered`` attribute as a queryset's flag.
        self.source, self.name, self.rows = ordered, name, rows
        self.ids: list[int] | None = None  # the whole order, when this request sorted it
        self.length = cache.get(f"{name}:length")
        if self.length is None:
            self._sort()

    def _sort(self) -> None:
        self.ids = list(self.source.values_list("pk", flat=True))
        chunks = range(0, len(self.ids), ORDER_CHUNK)
        cache.set_many({self._key(n): array("q", self.ids[n : n + ORDER_CHUNK]) for n in chunks}, ORDER_CACHE_SECONDS)
        # The length last: a reader who finds it finds the chunks.
        cache.set(f"{self.name}:length", len(self.ids), ORDER_CACHE_SECONDS)
        self.length = len(self.ids)

    def _key(self, start: int) -> str:
        return f"{self.name}:{start // ORDER_CHUNK}"

    def _ids(self, start: int, stop: int) -> list[int]:
        if self.ids is None:
            keys = [self._key(n) for n in range(start - start % ORDER_CHUNK, stop, ORDER_CHUNK)]
            found = cache.get_many(keys)
            if len(found) < len(keys):  # evicted meanwhile
                self._sort()
            else:
                first = start - start % ORDER_CHUNK
                return [pk for key in keys for pk in found[key]][start - first : stop - first]
        return self.ids[start:stop]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        if not isinstance(index, slice):
            index = index if index >= 0 else self.length + index
            if not 0 <= index < self.length:
                raise IndexError(index)
            return self[index : index + 1][0]
        start, stop, _ = index.indices(self.length)
        wanted = self._ids(start, stop)
        found = self.rows.in_bulk(wanted)
        return [found[pk] for pk in wanted if pk in found]


def cached_order(ordered: QuerySet, *, key: str, rows: QuerySet) -> CachedOrder:
    """``ordered`` sorted once and its ids cached under ``key`` — which must name everything
    the order depends on, the data's generation included — for every reader and page of the
    list until the key changes."""
    return CachedOrder(ordered, name=f"order:{hashlib.sha256(key.encode()).hexdigest()}", rows=rows)


# A new generation in the key is what retires an entry; the expiry only frees old ones.
ORDER_CACHE_SECONDS = 3600
# Ids per cache entry: a page of the screener or the leaderboard reads one or two.
ORDER_CHUNK = 50


# --- Screener -------------------------------------------------------------------

# Sort key (as it appears in the URL) → what to order by. Token columns sort on the token,
# every figure on the latest snapshot.
SCREENER_SORTS: dict[str, str] = {
    "name": "name",
    "symbol": "symbol",
    "category": "category",
    "price": "latest_snapshot__price_usd",
    "market_cap": "latest_snapshot__market_cap_usd",
    "fdv": "latest_snapshot__fdv_usd",
    "volume": "latest_snapshot__volume_usd",
    "change_7d": "latest_snapshot__price_change_7d",
    "change_30d": "latest_snapshot__price_change_30d",
    "fees": "latest_snapshot__fees_annualised",
    "revenue": "latest_snapshot__revenue_annualised",
    "holders_revenue": "latest_snapshot__holders_revenue_annualised",
    "pf": "latest_snapshot__pf",
    "ps": "latest_snapshot__ps",
    "phr": "latest_snapshot__phr",
    "holder_yield": "latest_snapshot__holder_yield",
    "buyback_yield": "latest_snapshot__buyback_yield",
    "growth_30d": "latest_snapshot__revenue_growth_30d",
    "growth_90d": "latest_snapshot__revenue_growth_90d",
}
DEFAULT_SORT = "market_cap"
DEFAULT_DIRECTION = "desc"

# MetricSnapshot fields a screener range may filter on.
SCREENER_RANGE_FIELDS: frozenset[str] = frozenset(
    {
        "price_usd",
        "market_cap_usd",
        "fdv_usd",
        "volume_usd",
        "price_change_7d",
        "price_change_30d",
        "fees_annualised",
        "revenue_annualised",
        "holders_revenue_annualised",
        "pf",
        "ps",
        "phr",
        "holder_yield",
        "buyback_yield",
        "revenue_growth_30d",
        "revenue_growth_90d",
    }
)

Range = tuple[Decimal | None, Decimal | None]


def screener_tokens(
    *,
    q: str = "",
    category: str = "",
    chain: str = "",
    ranges: Mapping[str, Range] | None = None,
    sort: str = DEFAULT_SORT,
    direction: str = DEFAULT_DIRECTION,
) -> QuerySet[Token]:
    """Tokens matching the screener's filters, every figure joined from the latest snapshot.

    ``ranges`` maps a MetricSnapshot field to inclusive (min, max) bounds; either may be
    None. A token without the figure never matches a range on it. Nulls sort last both
    ways, and the slug breaks ties so paging is stable.
    """
    tokens = Token.objects.select_related("latest_snapshot").prefetch_related("chains")
    q = q.strip()
    if q:
        tokens = tokens.filter(Q(name__icontains=q) | Q(symbol__icontains=q) | Q(slug__icontains=q))
    if category:
        tokens = tokens.filter(category=category)
    if chain:
        tokens = tokens.filter(chains__slug=chain)
    for name, (low, high) in (ranges or {}).items():
        if name not in SCREENER_RANGE_FIELDS:
            raise ValueError(f"Not a screener range: {name}")
        if low is not None:
            tokens = tokens.filter(**{f"latest_snapshot__{name}__gte": low})
        if high is not None:
            tokens = tokens.filter(**{f"latest_snapshot__{name}__lte": high})
    column = F(SCREENER_SORTS.get(sort, SCREENER_SORTS[DEFAULT_SORT]))
    order = column.asc(nulls_last=True) if direction == "asc" else column.desc(nulls_last=True)
    return tokens.order_by(order, "slug")


def screener_list(**filters) -> CachedOrder:
    """The screener's tokens (``screener_tokens``' filters) for paging. Sorting every token's
    latest snapshot is the page's dearest work, so the order is kept until the data's next
    generation (a refresh or an editor's save)."""
    ordered = screener_tokens(**filters)
    key = f"tokens:screener:{data_status().generation}:{sorted(filters.items())!r}"
    return cached_order(ordered, key=key, rows=Token.objects.for_rows())


# --- Home -----------------------------------------------------------------------

HOME_SECTION_SIZE = 10
# For what is cached under the data's generation, which is what retires an entry; the expiry
# only frees old ones.
GENERATION_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class HomeSections:
    revenue_leaders: list[Token]
    movers_up: list[Token]
    movers_down: list[Token]
    top_holder_yields: list[Token]
    price_as_of: dt.datetime | None
    revenue_as_of: dt.datetime | None


def home_sections(*, size: int = HOME_SECTION_SIZE) -> HomeSections:
    """The home page's leader boards. The same for every reader and each a sort of every
    token's latest snapshot, so they are cached until the data status is next worked out
    (after a refresh or an editor's save)."""
    key = f"tokens:home:{size}:{data_status().generation}"
    sections = cache.get(key)
    if sections is None:
        sections = _home_sections(size)
        cache.set(key, sections, GENERATION_CACHE_SECONDS)
    return sections


def _home_sections(size: int) -> HomeSections:
    """Each board read from the latest snapshots in one query."""
    base = Token.objects.select_related("latest_snapshot")
    as_of = Token.objects.aggregate(
        price=Max("latest_snapshot__price_as_of"), revenue=Max("latest_snapshot__revenue_as_of")
    )
    return HomeSections(
        revenue_leaders=list(
            base.filter(latest_snapshot__revenue_annualised__gt=0).order_by(
                "-latest_snapshot__revenue_annualised", "slug"
            )[:size]
        ),
        movers_up=list(
            base.filter(latest_snapshot__revenue_growth_30d__gt=0).order_by(
                "-latest_snapshot__revenue_growth_30d", "slug"
            )[:size]
        ),
        movers_down=list(
            base.filter(latest_snapshot__revenue_growth_30d__lt=0).order_by(
                "latest_snapshot__revenue_growth_30d", "slug"
            )[:size]
        ),
        top_holder_yields=list(
            base.filter(latest_snapshot__holder_yield__gt=0).order_by("-latest_snapshot__holder_yield", "slug")[:size]
        ),
        price_as_of=as_of["price"],
        revenue_as_of=as_of["revenue"],
    )


# --- Token page -----------------------------------------------------------------

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
    "DataStatus",
    "HomeSections",
    "SupplyWarning",
    "TokenPage",
    "data_status",
    "home_sections",
    "screener_list",
    "screener_tokens",
    "supply_warning",
    "token_chart",
    "token_events",
    "token_page",
    "token_reports",
]
