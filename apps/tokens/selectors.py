"""Reads shared by pages and the API — data status, cached orders, the screener and the home
page — with the joins that keep query counts flat (the token page: token_page.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Max, Q, QuerySet, Subquery
from django.utils import timezone

from .models import DataSet, Source, Token


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


__all__ = [
    "DataStatus",
    "HomeSections",
    "data_status",
    "home_sections",
    "screener_list",
    "screener_tokens",
]
