"""Reads of ratings for pages: leaderboard, token panel, comparisons, track record.

Every list reads the latest ratings (one row a token, through ``LatestRating``) joined
to their token in one query, so a page costs the same few queries for ten tokens or ten thousand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from django.core.cache import cache
from django.db.models import F, Max, Min, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from apps.tokens.models import PriceDay, Token
from apps.tokens.selectors import CachedOrder, cached_order, data_status

from .methodology import METHODOLOGY, Component, Methodology
from .models import Rating, RatingChange

VERSION = METHODOLOGY.version
BANDS = tuple(b.letter for b in METHODOLOGY.bands)
# A token whose newest rating is older than this (against the newest rating day) has
# stopped being rated: lists leave it out rather than show a stale grade.
LEADERBOARD_MAX_AGE_DAYS = 7
CHART_MAX_DAYS = 1100
PANEL_CHANGES = 8
DEFAULT_COMPARE_DAYS = 30
FORWARD_DAYS = (30, 90)


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


# --- Explaining a rating -----------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class InputRow:
    key: str
    label: str
    format: str
    description: str
    value: Decimal | None
    raw: str | None = None  # the input exactly as stored, for a reader who recomputes the grade


@dataclass(frozen=True)
class PartRow:
    key: str
    label: str
    weight: int
    note: str
    higher_is_better: bool
    inputs: list[InputRow]
    multiple: Decimal | None  # for "lower is better" multiples ranked by their inverse: the multiple
    universe: Decimal | None
    category: Decimal | None
    score: Decimal | None
    universe_size: int
    category_size: int


@dataclass(frozen=True)
class ComponentRow:
    key: str
    label: str
    description: str
    score: Decimal | None
    weights: dict[str, int]  # grade key → weight (grades that use this component)
    parts: list[PartRow]

    @property
    def inputs(self) -> list[InputRow]:
        """The component's inputs, each once, in the order its sub-metrics use them."""
        return list({i.key: i for part in self.parts for i in part.inputs}.values())


def _weights_of(component: Component) -> dict[str, int]:
    return {g.key: dict(g.weights)[component.key] for g in METHODOLOGY.grades if component.key in dict(g.weights)}


def _input_row(key: str, inputs: dict) -> InputRow:
    definition = METHODOLOGY.input(key)
    raw = inputs.get(key)
    return InputRow(
        key,
        definition.label,
        definition.format,
        definition.description,
        _decimal(raw),
        None if raw is None else str(raw),
    )


def explain(rating: Rating) -> list[ComponentRow]:
    """Each component of a stored rating with its sub-metrics and the inputs behind them."""
    rows = []
    inputs = rating.inputs or {}
    for component in METHODOLOGY.components:
        stored = (rating.components or {}).get(component.key) or {}
        parts = []
        for sub in component.submetrics:
            part = (stored.get("parts") or {}).get(sub.key) or (None, None, None, 0, 0)
            universe, category, score, universe_size, category_size = part
            multiple = None
            if sub.per:
                measure, per = _decimal(inputs.get(sub.measure)), _decimal(inputs.get(sub.per))
                if measure is not None and per is not None and measure > 0 and per > 0:
                    multiple = per / measure
            parts.append(
                PartRow(
                    key=sub.key,
                    label=sub.label,
                    weight=sub.weight,
                    note=sub.note,
                    higher_is_better=sub.higher_is_better,
                    inputs=[_input_row(key, inputs) for key in sub.inputs],
                    multiple=multiple,
                    universe=_decimal(universe),
                    category=_decimal(category),
                    score=_decimal(score),
                    universe_size=universe_size or 0,
                    category_size=category_size or 0,
                )
            )
        rows.append(
            ComponentRow(
                key=component.key,
                label=component.label,
                description=component.description,
                score=getattr(rating, f"{component.key}_score"),
                weights=_weights_of(component),
                parts=parts,
            )
        )
    return rows


# --- Comparing two days --------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    label: str
    level: str  # grade, component, part
    before: Decimal | None
    after: Decimal | None
    before_text: str = ""  # a grade's letter or a signal
    after_text: str = ""
    inputs: list[tuple[InputRow, InputRow]] = field(default_factory=list)

    @property
    def delta(self) -> Decimal | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class Comparison:
    before: Rating | None
    after: Rating | None
    requested_from: dt.date | None = None
    requested_to: dt.date | None = None
    rows: list[ChangeRow] = field(default_factory=list)
    error: str = ""


def _grade_text(grade: str) -> str:
    return grade or "Not rated"


def compare(before: Rating, after: Rating) -> list[ChangeRow]:
    """Grades, then each component and its sub-metrics, with the inputs that moved them."""
    rows = [
        ChangeRow(
            "Investor grade",
            "grade",
            before.investor_score,
            after.investor_score,
            _grade_text(before.investor_grade),
            _grade_text(after.investor_grade),
        ),
        ChangeRow(
            "Trader grade",
            "grade",
            before.trader_score,
            after.trader_score,
            _grade_text(before.trader_grade),
            _grade_text(after.trader_grade),
        ),
        ChangeRow(
            "Signal",
            "grade",
            None,
            None,
            before.get_signal_display() if before.signal else "—",
            after.get_signal_display() if after.signal else "—",
        ),
    ]
    for old, new in zip(explain(before), explain(after), strict=True):
        rows.append(ChangeRow(old.label, "component", old.score, new.score))
        for old_part, new_part in zip(old.parts, new.parts, strict=True):
            rows.append(
                ChangeRow(
                    old_part.label,
                    "part",
                    old_part.score,
                    new_part.score,
                    inputs=list(zip(old_part.inputs, new_part.inputs, strict=True)),
                )
            )
    return rows


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


# --- Track record --------------------------------------------------------------------------


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
