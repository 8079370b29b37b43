"""Point-in-time reads for the API (``as_of``): what it would have said that day — each
token's snapshot or rating dated that day or the newest before it. Filters and sorts are the
screener's and the leaderboard's own (``SCREENER_SORTS``, ``LEADERBOARD_SORTS``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db.models import F, OuterRef, QuerySet, Subquery

from apps.ratings.models import Rating
from apps.ratings.selectors import GRADE_FIELDS, LEADERBOARD_SORTS, NOT_RATED_FILTER, VERSION
from apps.tokens.models import MetricSnapshot, Token
from apps.tokens.selectors import (
    DEFAULT_DIRECTION,
    DEFAULT_SORT,
    SCREENER_RANGE_FIELDS,
    SCREENER_SORTS,
    Range,
    screener_tokens,
)

SNAPSHOT_PREFIX = "latest_snapshot__"


def _ordered(rows: QuerySet, column: str, direction: str, tie: str) -> QuerySet:
    order = F(column).asc(nulls_last=True) if direction == "asc" else F(column).desc(nulls_last=True)
    return rows.order_by(order, tie)


def snapshots_as_of(
    *,
    day: dt.date,
    q: str = "",
    category: str = "",
    chain: str = "",
    ranges: Mapping[str, Range] | None = None,
    sort: str = DEFAULT_SORT,
    direction: str = DEFAULT_DIRECTION,
) -> QuerySet[MetricSnapshot]:
    """Each matching token's newest snapshot dated ``day`` or before, with its token; a token
    without one did not exist for the API that day. Same filters, sorts and ties as the screener."""
    # One walk down the (token, date) index per token, not a correlated look at every snapshot.
    newest = MetricSnapshot.objects.filter(token=OuterRef("pk"), date__lte=day).order_by("-date").values("pk")[:1]
    ids = screener_tokens(q=q, category=category, chain=chain).order_by().values(newest=Subquery(newest))
    rows = MetricSnapshot.objects.filter(pk__in=ids).select_related("token").prefetch_related("token__chains")
    for name, (low, high) in (ranges or {}).items():
        if name not in SCREENER_RANGE_FIELDS:
            raise ValueError(f"Not a screener range: {name}")
        if low is not None:
            rows = rows.filter(**{f"{name}__gte": low})
        if high is not None:
            rows = rows.filter(**{f"{name}__lte": high})
    column = SCREENER_SORTS.get(sort, SCREENER_SORTS[DEFAULT_SORT])
    column = column.removeprefix(SNAPSHOT_PREFIX) if column.startswith(SNAPSHOT_PREFIX) else f"token__{column}"
    return _ordered(rows, column, direction, "token__slug")


def ratings_as_of_day(
    *,
    day: dt.date,
    grade: str = "investor",
    category: str = "",
    band: str = "",
    sort: str = "",
    direction: str = "desc",
) -> QuerySet[Rating]:
    """Each token's newest rating dated ``day`` or before, ordered as the leaderboard orders."""
    grade = grade if grade in GRADE_FIELDS else "investor"
    newest = (
        Rating.objects.filter(token=OuterRef("pk"), methodology_version=VERSION, date__lte=day)
        .order_by("-date")
        .values("pk")[:1]
    )
    ids = Token.objects.values(newest=Subquery(newest))
    ratings = Rating.objects.filter(pk__in=ids).select_related("token", "token__latest_snapshot")
    if category:
        ratings = ratings.filter(token__category=category)
    if band == NOT_RATED_FILTER:
        ratings = ratings.filter(**{GRADE_FIELDS[grade]: ""})
    elif band:
        ratings = ratings.filter(**{GRADE_FIELDS[grade]: band})
    column = LEADERBOARD_SORTS.get(sort) or LEADERBOARD_SORTS[grade]
    return _ordered(ratings, column, direction, "token__slug")


def token_rating(token_id: int, *, day: dt.date | None = None) -> Rating | None:
    """A token's latest rating, or its newest dated ``day`` or before."""
    ratings = Rating.objects.filter(token_id=token_id, methodology_version=VERSION)
    if day is None:
        return ratings.filter(latest__isnull=False).first()
    return ratings.filter(date__lte=day).order_by("-date").first()
