"""Reads of watchlists: which tokens a reader starred, and a list's page with its totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from apps.accounts.models import User
from apps.ratings.models import Rating
from apps.ratings.selectors import LEADERBOARD_MAX_AGE_DAYS, VERSION, ratings_as_of
from apps.tokens import metrics
from apps.tokens.models import MetricSnapshot, Token

from .models import Watchlist, WatchlistItem

# Best first: a grade's rank, to say whether it rose or fell.
GRADE_RANK = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
GOOD_GRADES = frozenset({"A", "B"})


def watchlist_for_user(*, user: User, pk: int) -> Watchlist:
    """The reader's own list; any other id (another reader's, or none) is a 404."""
    if not user.is_authenticated:
        raise Http404("No such watchlist")
    try:
        return Watchlist.objects.get(pk=pk, user=user)
    except Watchlist.DoesNotExist as exc:
        raise Http404("No such watchlist") from exc


def watchlists_of(user: User) -> QuerySet[Watchlist]:
    """The reader's lists, each with its number of tokens (one query)."""
    return Watchlist.objects.filter(user=user).annotate(size=Count("items")).order_by("-is_default", "name", "pk")


def watchlists_with_tokens(user: User) -> QuerySet[Watchlist]:
    """The reader's lists with their items and tokens, oldest addition first (two queries)."""
    items = WatchlistItem.objects.select_related("token").order_by("added_at", "pk")
    return (
        Watchlist.objects.filter(user=user)
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("-is_default", "name", "pk")
    )


def watched_token_ids() -> list[int]:
    """Every token on anyone's watchlist."""
    return list(WatchlistItem.objects.order_by().values_list("token_id", flat=True).distinct())


def starred_token_ids(*, user: User, token_ids: Iterable[int]) -> set[int]:
    """Which of these tokens are in the reader's default list: one query for a whole page,
    none for an anonymous reader."""
    ids = list(token_ids)
    if not user.is_authenticated or not ids:
        return set()
    return set(
        WatchlistItem.objects.filter(watchlist__user=user, watchlist__is_default=True, token_id__in=ids).values_list(
            "token_id", flat=True
        )
    )


def grade_change(before: str, now: str) -> int | None:
    """Bands moved since added (+ is better), None when either grade is missing."""
    if before not in GRADE_RANK or now not in GRADE_RANK:
        return None
    return GRADE_RANK[now] - GRADE_RANK[before]


@dataclass(frozen=True)
class WatchlistRow:
    item: WatchlistItem
    token: Token
    snapshot: MetricSnapshot | None
    rating: Rating | None  # the latest rating, None when there is none recent enough

    @property
    def investor_grade(self) -> str:
        return self.rating.investor_grade if self.rating else ""

    @property
    def trader_grade(self) -> str:
        return self.rating.trader_grade if self.rating else ""

    @property
    def price_change(self) -> Decimal | None:
        """Price now against the price when added (0.1 = +10 %)."""
        before = self.item.price_at_add
        now = self.snapshot.price_usd if self.snapshot else None
        if before is None or now is None or before <= 0:
            return None
        return now / before - 1

    @property
    def investor_change(self) -> int | None:
        return grade_change(self.item.investor_grade_at_add, self.investor_grade)

    @property
    def trader_change(self) -> int | None:
        return grade_change(self.item.trader_grade_at_add, self.trader_grade)


@dataclass(frozen=True)
class WatchlistTotals:
    tokens: int
    median_ps: Decimal | None
    ps_count: int  # tokens with a P/S, that the median rests on
    holder_yield: Decimal | None  # Σ holders revenue ÷ Σ market cap
    holder_yield_count: int  # tokens with both figures, that the yield rests on
    rated_a_or_b: int  # tokens whose investor grade is A or B

    @property
    def share_a_or_b(self) -> Decimal | None:
        return Decimal(self.rated_a_or_b) / self.tokens if self.tokens else None


def watchlist_totals(rows: list[WatchlistRow]) -> WatchlistTotals:
    """The list's totals. The combined holder yield is the list's holders revenue over its
    market cap, both summed over the tokens having both figures (a cap-weighted yield, not an
    average of yields); the share rated A or B counts the list's tokens by investor grade."""
    ps = [row.snapshot.ps for row in rows if row.snapshot and row.snapshot.ps is not None]
    both = [
        (s.holders_revenue_annualised, s.market_cap_usd)
        for s in (row.snapshot for row in rows)
        if s and s.holders_revenue_annualised is not None and s.market_cap_usd is not None and s.market_cap_usd > 0
    ]
    cap = sum((c for _, c in both), Decimal(0))
    return WatchlistTotals(
        tokens=len(rows),
        median_ps=metrics.median(ps),
        ps_count=len(ps),
        holder_yield=sum((h for h, _ in both), Decimal(0)) / cap if cap > 0 else None,
        holder_yield_count=len(both),
        rated_a_or_b=sum(1 for row in rows if row.investor_grade in GOOD_GRADES),
    )


@dataclass(frozen=True)
class WatchlistPage:
    watchlist: Watchlist
    rows: list[WatchlistRow]
    totals: WatchlistTotals
    price_as_of: dt.datetime | None
    ratings_as_of: dt.date | None


def watchlist_page(watchlist: Watchlist) -> WatchlistPage:
    """Each token of the list with its latest figures and grades, and the totals, in three
    queries whatever the list's size. Grades older than the leaderboard allows count as not
    rated, as on the leaderboard."""
    items = list(
        WatchlistItem.objects.filter(watchlist=watchlist)
        .select_related("token", "token__latest_snapshot")
        .order_by("token__name", "token__slug")
    )
    as_of = ratings_as_of()
    ratings = Rating.objects.filter(
        methodology_version=VERSION, latest__isnull=False, token__watchlist_items__watchlist=watchlist
    )
    if as_of.date is not None:
        ratings = ratings.filter(date__gte=as_of.date - dt.timedelta(days=LEADERBOARD_MAX_AGE_DAYS))
    by_token = {r.token_id: r for r in ratings.defer("inputs", "components")}
    rows = [
        WatchlistRow(item=i, token=i.token, snapshot=i.token.latest_snapshot, rating=by_token.get(i.token_id))
        for i in items
    ]
    price_as_of = max((r.snapshot.price_as_of for r in rows if r.snapshot and r.snapshot.price_as_of), default=None)
    return WatchlistPage(
        watchlist=watchlist,
        rows=rows,
        totals=watchlist_totals(rows),
        price_as_of=price_as_of,
        ratings_as_of=as_of.date,
    )


__all__ = [
    "WatchlistPage",
    "WatchlistRow",
    "WatchlistTotals",
    "grade_change",
    "starred_token_ids",
    "watchlist_for_user",
    "watchlist_page",
    "watchlist_totals",
    "watchlists_of",
    "watchlists_with_tokens",
]
