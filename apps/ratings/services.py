"""Writes of ratings: compute a day (or a range of days) for the whole universe, store the
ratings that changed, the events between days, each token's latest-rating pointer, and
then the rated universe's days (``universe_days``).

Ranks are relative, so a day is always computed for every token with a snapshot that
day; ``token_ids`` only limits which tokens' rows are written. Inputs come from the day's
MetricSnapshot and from daily prices and revenue dated on or before the day (see
``loading``: five queries per chunk of tokens, whatever the number of days). A recompute of
unchanged inputs writes nothing (each rating keeps its ``computed_at``).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from apps.tokens import bulk
from apps.tokens.models import MetricSnapshot, Token

from . import scoring
from .loading import load_inputs
from .methodology import METHODOLOGY
from .models import LatestRating, Rating, RatingChange
from .scoring import TokenInputs, TokenRating
from .universe_days import universe_days_update

CHUNK_TOKENS = 1000
# Inputs of this many token-days are held at once; a long backfill goes in blocks of days.
BLOCK_TOKEN_DAYS = 100_000
WRITE_BATCH = 2000
# From this many rows a day's ratings are written with COPY (PostgreSQL).
COPY_MIN_ROWS = 500
LATEST_FILTER_MAX = 5000

COMPONENT_COLUMNS = {c.key: f"{c.key}_score" for c in METHODOLOGY.components}
ROW_FIELDS = [
    "inputs",
    "components",
    *COMPONENT_COLUMNS.values(),
    "investor_score",
    "investor_grade",
    "investor_reason",
    "trader_score",
    "trader_grade",
    "trader_reason",
    "signal",
    "fingerprint",
    "computed_at",
]
# A rating row as the service builds it (a tuple in this order).
COPY_COLUMNS = ["token_id", "date", "methodology_version", *ROW_FIELDS]
# An event row likewise.
CHANGE_COLUMNS = [
    "token_id",
    "date",
    "methodology_version",
    "kind",
    "subject",
    "before",
    "after",
    "detail",
    "created_at",
]


@dataclass
class RecomputeResult:
    days: int = 0
    rated: int = 0  # token-days computed
    written: int = 0  # ratings inserted or changed
    changes: int = 0  # rating-change events inserted or changed


@dataclass(frozen=True, slots=True)
class _Summary:
    """What the next day needs of a rating: its signal, and what events compare."""

    signal: str
    investor_grade: str
    investor_score: Decimal | None
    trader_grade: str
    trader_score: Decimal | None
    components: tuple[Decimal | None, ...]


# --- Rows ------------------------------------------------------------------------------


def _components_json(rating: TokenRating) -> dict:
    """Each component's score and, per sub-metric, ``PART_FIELDS`` as a list (None: no value)."""
    return {
        key: {
            "score": None if component.score is None else float(component.score),
            "parts": {
                name: None
                if part.score_tenths is None
                else [
                    part.universe_tenths / 10,
                    None if part.category_tenths is None else part.category_tenths / 10,
                    part.score_tenths / 10,
                    part.universe_size,
                    part.category_size,
                ]
                for name, part in component.parts.items()
            },
        }
        for key, component in rating.components.items()
    }


def _fingerprint(inputs: TokenInputs, rating: TokenRating) -> str:
    """A digest of everything a rating row holds but its time: the repr of plain tuples
    (strings, ints, floats, None), which is the same in every process."""
    payload = (
        METHODOLOGY.version,
        tuple(inputs.values.values()),
        tuple(
            [
                (
                    str(component.score),
                    # A part's value is a function of the inputs, so its other fields suffice.
                    tuple([part[1:] for part in component.parts.values()]),
                )
                for component in rating.components.values()
            ]
        ),
        str(rating.investor.score),
        rating.investor.band,
        rating.investor.reason,
        str(rating.trader.score),
        rating.trader.band,
        rating.trader.reason,
        rating.signal,
    )
    return hashlib.sha1(repr(payload).encode()).hexdigest()


def _rating_row(
    token_id: int, day: dt.date, inputs: TokenInputs, rating: TokenRating, fingerprint: str, now: dt.datetime
) -> tuple:
    """A rating's row: its values in the order of ``COPY_COLUMNS`` (a tuple, not a model
    instance: a large day's rows go straight to COPY)."""
    components = rating.components
    return (
        token_id,
        day,
        METHODOLOGY.version,
        dict(inputs.values),
        _components_json(rating),
        *(components[key].score for key in COMPONENT_COLUMNS),
        rating.investor.score,
        rating.investor.band,
        rating.investor.reason,
        rating.trader.score,
        rating.trader.band,
        rating.trader.reason,
        rating.signal,
        fingerprint,
        now,
    )


def _summary(rating: TokenRating) -> _Summary:
    return _Summary(
        signal=rating.signal,
        investor_grade=rating.investor.band,
        investor_score=rating.investor.score,
        trader_grade=rating.trader.band,
        trader_score=rating.trader.score,
        components=tuple(rating.components[key].score for key in COMPONENT_COLUMNS),
    )


def _stored_summaries(day: dt.date) -> dict[int, _Summary]:
    rows = Rating.objects.filter(date=day, methodology_version=METHODOLOGY.version).values_list(
        "token_id",
        "signal",
        "investor_grade",
        "investor_score",
        "trader_grade",
        "trader_score",
        *COMPONENT_COLUMNS.values(),
    )
    return {row[0]: _Summary(row[1], row[2], row[3], row[4], row[5], tuple(row[6:])) for row in rows}


# --- Events ----------------------------------------------------------------------------


def _grade_text(grade: str) -> str:
    return grade or "NR"


def _changes_between(before: _Summary, after: _Summary) -> list[tuple[str, str, str, str, dict]]:
    """(kind, subject, before, after, detail) for what changed from one day to the next."""
    moved = {
        key: [str(b) if b is not None else None, str(a) if a is not None else None]
        for key, b, a in zip(COMPONENT_COLUMNS, before.components, after.components, strict=True)
        if b != a
    }
    events = []
    for subject, b_grade, a_grade, b_score, a_score in (
        ("investor", before.investor_grade, after.investor_grade, before.investor_score, after.investor_score),
        ("trader", before.trader_grade, after.trader_grade, before.trader_score, after.trader_score),
    ):
        detail = {
            "before_score": str(b_score) if b_score is not None else None,
            "after_score": str(a_score) if a_score is not None else None,
            "components": moved,
        }
        if b_grade != a_grade:
            events.append(("band_change", subject, _grade_text(b_grade), _grade_text(a_grade), detail))
        if b_score is not None and a_score is not None and abs(a_score - b_score) >= METHODOLOGY.score_move_points:
            events.append(("score_move", subject, str(b_score), str(a_score), detail))
    if before.signal and after.signal and before.signal != after.signal:
        score = {"trader_score": str(after.trader_score) if after.trader_score is not None else None}
        events.append(("signal_flip", "signal", before.signal, after.signal, score))
    return events


def _write_changes(
    day: dt.date, wanted: dict[tuple[int, str, str], tuple[str, str, dict]], scope: set[int] | None, now: dt.datetime
) -> int:
    """Make the day's events (for the tokens in scope) exactly ``wanted``; only differences are written."""
    stored = RatingChange.objects.filter(date=day, methodology_version=METHODOLOGY.version)
    if scope is not None:
        stored = stored.filter(token_id__in=scope)
    existing = {
        (token_id, kind, subject): (pk, (before, after, detail))
        for pk, token_id, kind, subject, before, after, detail in stored.values_list(
            "pk", "token_id", "kind", "subject", "before", "after", "detail"
        )
    }
    stale = [pk for key, (pk, value) in existing.items() if wanted.get(key) != value]
    if stale:
        RatingChange.objects.filter(pk__in=stale).delete()
    fresh = [
        (token_id, day, METHODOLOGY.version, kind, subject, before, after, detail, now)
        for (token_id, kind, subject), (before, after, detail) in wanted.items()
        if (token_id, kind, subject) not in existing or existing[token_id, kind, subject][1] != (before, after, detail)
    ]
    # A concurrent writer may have stored some of them first: theirs stand.
    RatingChange.objects.bulk_create(
        [RatingChange(**dict(zip(CHANGE_COLUMNS, row, strict=True))) for row in fresh],
        batch_size=WRITE_BATCH,
        ignore_conflicts=True,
    )
    return len(fresh)


# --- Writing a day -----------------------------------------------------------------------


def _stored_fingerprints(day: dt.date, scope: set[int] | None) -> dict[int, str]:
    stored = Rating.objects.filter(date=day, methodology_version=METHODOLOGY.version)
    if scope is not None:
        stored = stored.filter(token_id__in=scope)
    return dict(stored.values_list("token_id", "fingerprint"))


def _write_ratings(rows: list[tuple]) -> int:
    """Insert or update ``rows`` (all of one day), keyed on token, date and version."""
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        _copy_upsert(rows)
    else:
        Rating.objects.bulk_create(
            [Rating(**dict(zip(COPY_COLUMNS, row, strict=True))) for row in rows],
            update_conflicts=True,
            unique_fields=["token", "date", "methodology_version"],
            update_fields=ROW_FIELDS,
            batch_size=WRITE_BATCH,
        )
    return len(rows)


def _copy_values(rows: list[tuple]) -> Iterator[tuple]:
    """Rating rows as COPY writes them: inputs and components as JSON text."""
    for token_id, day, version, inputs, components, *rest in rows:
        yield token_id, day, version, _json(inputs), _json(components), *rest


def _copy_upsert(rows: list[tuple]) -> None:
    """A large day's rows COPYed into a session's scratch table, then upserted in one
    statement: several times faster than a multi-row INSERT of the same rows, and as safe
    against a concurrent writer (ON CONFLICT). Must run inside a transaction."""
    table = Rating._meta.db_table
    columns = ", ".join(COPY_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in ROW_FIELDS)
    with connection.cursor() as cursor:
        scratch = bulk.copy_into_scratch(cursor, Rating, COPY_COLUMNS, _copy_values(rows))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {scratch} "
            f"ON CONFLICT (token_id, date, methodology_version) DO UPDATE SET {updates}"
        )


# One encoder for every row: json.dumps with options makes a new one a call.
_json = json.JSONEncoder(separators=(",", ":")).encode


@transaction.atomic
def latest_point_at(newest: dict[int, dt.date]) -> None:
    """Point each token at its newest rating, where ``newest`` (token → the newest day just
    computed) is newer than what it points at, or it points at nothing. The pointers read are
    locked until the write, so a backfill beside the daily recompute never moves one back."""
    if not newest:
        return
    version = METHODOLOGY.version
    pointers = LatestRating.objects.select_for_update().filter(methodology_version=version)
    if len(newest) <= LATEST_FILTER_MAX:  # past this, reading them all beats a long IN list
        pointers = pointers.filter(token_id__in=list(newest))
    current = dict(pointers.values_list("token_id", "date"))
    moves = {token_id: day for token_id, day in newest.items() if current.get(token_id, dt.date.min) < day}
    if not moves:
        return
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    for token_id, day in moves.items():
        by_day[day].append(token_id)
    rows = []
    for day, token_ids in by_day.items():
        ratings = Rating.objects.filter(date=day, methodology_version=version)
        if len(token_ids) <= LATEST_FILTER_MAX:
            ratings = ratings.filter(token_id__in=token_ids)
        wanted = set(token_ids)
        rows += [
            LatestRating(token_id=token_id, methodology_version=version, rating_id=pk, date=day)
            for token_id, pk in ratings.values_list("token_id", "pk")
            if token_id in wanted
        ]
    LatestRating.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["token", "methodology_version"],
        update_fields=["rating", "date"],
        batch_size=WRITE_BATCH,
    )


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A large day makes millions of small objects (inputs, parts, rows) and no reference
    cycles; each time they pass the collector's threshold it scans them all again. Collection
    resumes after each block's load and each day, so whatever cycles a day leaves are still
    collected."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- The services ------------------------------------------------------------------------


def ratings_backfill(
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    token_ids: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
    computed_at: dt.datetime | None = None,
    chunk_size: int = CHUNK_TOKENS,
) -> RecomputeResult:
    """Rate every day from ``start`` to ``end`` (default: the first and last days with
    snapshots), in order, so each day's signal follows the day before. Rows are written for
    ``token_ids`` (default: all). Idempotent: a rating whose content did not change keeps
    its ``computed_at``. ``progress`` is called once per day. The universe's days are then
    stored from ``start`` (and wherever missing or recent)."""
    if start is None or end is None:
        bounds = MetricSnapshot.objects.aggregate(first=Min("date"), last=Max("date"))
        start = start or bounds["first"]
        end = end or bounds["last"]
    result = RecomputeResult()
    if start is None or end is None or start > end:
        return result
    scope = set(token_ids) if token_ids is not None else None
    now = computed_at or timezone.now()
    tokens = list(Token.objects.order_by("pk").values_list("pk", "category"))
    block_days = max(1, BLOCK_TOKEN_DAYS // max(len(tokens), 1))
    previous = _stored_summaries(start - dt.timedelta(days=1))
    newest: dict[int, dt.date] = {}
    block_start = start
    while block_start <= end:
        block_end = min(block_start + dt.timedelta(days=block_days - 1), end)
        with _without_cycle_collection():
            universe = load_inputs(tokens, block_start, block_end, chunk_size)
        day = block_start
        while day <= block_end:
            with _without_cycle_collection():
                previous = _rate_day(day, universe.pop(day, []), previous, scope, now, result, newest)
            result.days += 1
            if progress:
                progress(1)
            day += dt.timedelta(days=1)
        latest_point_at(newest)
        newest = {}
        block_start = block_end + dt.timedelta(days=1)
    # A day's first ratings join the universe the next day; prices moved since the last run.
    universe_days_update(since=start)
    return result


def _rate_day(
    day: dt.date,
    universe: list[TokenInputs],
    previous: dict[int, _Summary],
    scope: set[int] | None,
    now: dt.datetime,
    result: RecomputeResult,
    newest: dict[int, dt.date],
) -> dict[int, _Summary]:
    """Rate one day's universe; write the changed ratings and events of the tokens in scope."""
    ratings = scoring.rate_universe(
        universe, previous_signals={token_id: item.signal for token_id, item in previous.items()}
    )
    stored = _stored_fingerprints(day, scope) if universe else {}
    rows, wanted, today = [], {}, {}
    for inputs in universe:
        token_id = inputs.token_id
        rating = ratings[token_id]
        today[token_id] = summary = _summary(rating)
        if scope is not None and token_id not in scope:
            continue
        newest[token_id] = day
        fingerprint = _fingerprint(inputs, rating)
        if stored.get(token_id) != fingerprint:
            rows.append(_rating_row(token_id, day, inputs, rating, fingerprint, now))
        if token_id in previous:
            for kind, subject, before, after, detail in _changes_between(previous[token_id], summary):
                wanted[token_id, kind, subject] = (before, after, detail)
    with transaction.atomic():
        result.written += _write_ratings(rows)
        result.changes += _write_changes(day, wanted, scope, now)
    result.rated += len(universe)
    return today


def ratings_after_load(*, report: Callable[[str, int, int], None] | None = None) -> RecomputeResult:
    """Rate every day with snapshots: the last step of a data load (the sample data's).
    Ratings are stamped with the time they are computed, not the data's as-of, which pages
    show apart (a reload writes nothing, so the first load's time stays);
    ``report(stage, done, total)`` is called as the load's other stages are."""
    bounds = MetricSnapshot.objects.aggregate(first=Min("date"), last=Max("date"))
    if bounds["first"] is None:
        return RecomputeResult()
    total = (bounds["last"] - bounds["first"]).days + 1
    done = 0

    def progress(days: int) -> None:
        nonlocal done
        done += days
        if report:
            report("ratings", done, total)

    return ratings_backfill(start=bounds["first"], end=bounds["last"], progress=progress)


def ratings_recompute(*, token_ids: Iterable[int] | None = None, day: dt.date) -> RecomputeResult:
    """Rate one day: the whole universe is ranked, the ratings of ``token_ids`` (default:
    all) are written where they changed. The signal follows the stored day before."""
    return ratings_backfill(start=day, end=day, token_ids=token_ids)
