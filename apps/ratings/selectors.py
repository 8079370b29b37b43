"""Reads of ratings for pages: leaderboard, comparisons of two days, token panel (the track
record: track_record.py; explaining and comparing ratings: explain.py).

Every list reads the latest ratings (one row a token, through ``LatestRating``) joined
to their token in one query, so a page costs the same few queries for ten tokens or ten thousand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F, Min, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from apps.tokens.models import Token
from apps.tokens.selectors import CachedOrder, cached_order, data_status

from .explain import Comparison, ComponentRow, InputRow, _input_row, compare, explain
from .methodology import METHODOLOGY, Methodology
from .models import Rating, RatingChange

VERSION = METHODOLOGY.version
BANDS = tuple(b.letter for b in METHODOLOGY.bands)
# A token whose newest rating is older than this (against the newest rating day) has
# stopped being rated: lists leave it out rather than show a stale grade.
LEADERBOARD_MAX_AGE_DAYS = 7
CHART_MAX_DAYS = 1100
PANEL_CHANGES = 8
DEFAULT_COMPARE_DAYS = 30


@dataclass(frozen=True)
class RatingsAsOf:
    date: dt.date | None
    computed_at: dt.datetime | None


def ratings_as_of() -> RatingsAsOf:
    """The newest latest rating's day, and when the most recently computed latest rating was
    computed (one query: two walks down an index, not an aggregate over every latest rating)."""
    latest = Rating.objects.filter(methodology_version=VERSION, latest__isnull=False)
    newest = latest.order_by("-computed_at").values("computed_at")[:1]
    row = latest.order_by("-date").values("date", computed=Subquery(newest)).first()
    return RatingsAsOf(date=row["date"], computed_at=row["computed"]) if row else RatingsAsOf(None, None)


# --- Leaderboard ---------------------------------------------------------------------------

LEADERBOARD_SORTS: dict[str, str] = {
    "investor": "investor_score",
    "trader": "trader_score",
    "revenue": "revenue_score",
    "value_accrual": "value_accrual_score",
    "valuation": "valuation_score",
    "momentum": "momentum_score",
    "risk": "risk_score",
    "name": "token__name",
    "category": "token__category",
    "market_cap": "token__latest_snapshot__market_cap_usd",
}
GRADE_FIELDS = {"investor": "investor_grade", "trader": "trader_grade"}
NOT_RATED_FILTER = "nr"
# What a leaderboard row shows: not a rating's inputs and component details (JSON, most of
# its width), nor the token's other figures.
LEADERBOARD_COLUMNS = (
    "token",
    "date",
    *(f"{grade}_{part}" for grade in GRADE_FIELDS for part in ("score", "grade", "reason")),
    "signal",
    *(f"{component.key}_score" for component in METHODOLOGY.components),
    "token__slug",
    "token__name",
    "token__symbol",
    "token__category",
    "token__latest_snapshot",
    "token__latest_snapshot__market_cap_usd",
)


def leaderboard(
    *,
    grade: str = "investor",
    category: str = "",
    band: str = "",
    sort: str = "",
    direction: str = "desc",
    as_of: dt.date | None = None,
) -> QuerySet[Rating]:
    """The latest ratings, best first by the chosen grade unless sorted otherwise.

    ``band`` filters on the chosen grade's letter (``"nr"``: not rated). Nulls sort last
    both ways and the token's slug breaks ties, so paging is stable."""
    grade = grade if grade in GRADE_FIELDS else "investor"
    ratings = (
        Rating.objects.filter(methodology_version=VERSION, latest__isnull=False)
        .select_related("token", "token__latest_snapshot")
        .only(*LEADERBOARD_COLUMNS)
    )
    if as_of is not None:
        ratings = ratings.filter(date__gte=as_of - dt.timedelta(days=LEADERBOARD_MAX_AGE_DAYS))
    if category:
        ratings = ratings.filter(token__category=category)
    if band == NOT_RATED_FILTER:
        ratings = ratings.filter(**{GRADE_FIELDS[grade]: ""})
    elif band:
        ratings = ratings.filter(**{GRADE_FIELDS[grade]: band})
    column = F(LEADERBOARD_SORTS.get(sort) or LEADERBOARD_SORTS[grade])
    order = column.asc(nulls_last=True) if direction == "asc" else column.desc(nulls_last=True)
    return ratings.order_by(order, "token__slug")


def leaderboard_list(*, as_of: RatingsAsOf, **filters) -> CachedOrder:
    """The leaderboard (``leaderboard``'s filters) for paging. Its order changes when ratings
    are recomputed, or market caps with the data's generation: it is kept until either does."""
    ordered = leaderboard(**filters, as_of=as_of.date)
    stamp = as_of.computed_at.timestamp() if as_of.computed_at else 0
    key = f"ratings:leaderboard:{VERSION}:{as_of.date}:{stamp}:{data_status().generation}:{sorted(filters.items())!r}"
    rows = Rating.objects.select_related("token", "token__latest_snapshot").only(*LEADERBOARD_COLUMNS)
    return cached_order(ordered, key=key, rows=rows)


# --- Comparing two days --------------------------------------------------------------------


def _as_of(token: Token, day: dt.date) -> Rating | None:
    return Rating.objects.filter(token=token, methodology_version=VERSION, date__lte=day).order_by("-date").first()


def rating_comparison(token: Token, *, start: dt.date, end: dt.date) -> Comparison:
    """The token's ratings as of two days (the newest on or before each), compared."""
    before, after = _as_of(token, start), _as_of(token, end)
    missing = [day for day, rating in ((start, before), (end, after)) if rating is None]
    if missing:
        first = Rating.objects.filter(token=token, methodology_version=VERSION).aggregate(first=Min("date"))["first"]
        since = f"its ratings start on {first:%Y-%m-%d}" if first else "it has no rating yet"
        return Comparison(
            before,
            after,
            start,
            end,
            error=f"{token.symbol.upper()} has no rating on or before {missing[0]:%Y-%m-%d}: {since}.",
        )
    return Comparison(before, after, start, end, rows=compare(before, after))


# --- Token page panel ------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingPanel:
    latest: Rating | None
    # Inputs no sub-metric ranks but a grade needs (revenue history), for the grade cards.
    history: InputRow | None
    components: list[ComponentRow]
    has_chart: bool  # a score to draw (the series loads apart: rating_history_chart)
    comparison: Comparison | None
    changes: list[RatingChange]
    compare_from: dt.date | None
    compare_to: dt.date | None
    first_date: dt.date | None

    @property
    def methodology(self) -> Methodology:
        return METHODOLOGY


def _score_history(token: Token) -> list[tuple[dt.date, Decimal | None, Decimal | None]]:
    """(day, investor score, trader score) of the token's ratings, oldest first, at most
    CHART_MAX_DAYS of the newest."""
    history = list(
        Rating.objects.filter(token=token, methodology_version=VERSION)
        .order_by("-date")
        .values_list("date", "investor_score", "trader_score")[:CHART_MAX_DAYS]
    )
    history.reverse()
    return history


def rating_history_chart(token: Token) -> dict[str, Any]:
    """The grade-history chart's series, for the token page's script (one query)."""
    history = _score_history(token)
    return {
        "investor": [{"time": d.isoformat(), "value": float(i)} for d, i, _ in history if i is not None],
        "trader": [{"time": d.isoformat(), "value": float(t)} for d, _, t in history if t is not None],
        "bands": [{"letter": b.letter, "min": b.min_score} for b in METHODOLOGY.bands if b.min_score > 0],
    }


def token_rating_panel(token: Token) -> RatingPanel:
    """The token page's rating panel in three queries, whatever the length of its history:
    the score history, the newest rating and the one it is compared with, and the latest
    rating-change events."""
    history = _score_history(token)
    if not history:
        return RatingPanel(None, None, [], False, None, [], None, None, None)
    newest = history[-1][0]
    target = newest - dt.timedelta(days=DEFAULT_COMPARE_DAYS)
    earlier = [day for day, *_ in history if day <= target]
    compare_day = earlier[-1] if earlier else history[0][0]
    rows = {
        r.date: r
        for r in Rating.objects.filter(token=token, methodology_version=VERSION, date__in={newest, compare_day})
    }
    latest = rows[newest]
    comparison = None
    if compare_day != newest:
        comparison = Comparison(rows[compare_day], latest, compare_day, newest, rows=compare(rows[compare_day], latest))
    return RatingPanel(
        latest=latest,
        history=_input_row("revenue_history_days", latest.inputs or {}),
        components=explain(latest),
        has_chart=any(i is not None or t is not None for _, i, t in history),
        comparison=comparison,
        changes=list(RatingChange.objects.filter(token=token, methodology_version=VERSION)[:PANEL_CHANGES]),
        compare_from=compare_day,
        compare_to=newest,
        first_date=history[0][0],
    )


def token_for_ratings(slug: str) -> Token:
    return get_object_or_404(Token, slug=slug)
