"""The rated universe's days (``UniverseDay``): computed by the database from the daily prices
and each token's first rating, kept current a few days at a time after every ratings
recompute, and read by the Top 10 lists' records as a row a day instead of a pass over
every price.

The universe on day d is every token rated on d−1 or earlier (its first rating, under any
methodology, dated before d) with a positive price on d−1 or earlier. Its move on d is the
sum of those tokens' p(d) / p(d−1) − 1 (prices carried: a token without a price on d moved
0); its return on d is that sum over its member count.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.models import Max, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.tokens.history import GAP_WINDOW_DAYS
from apps.tokens.models import PriceDay, Token

from .models import Rating, UniverseDay

DAY = dt.timedelta(days=1)
# A refresh may still write a price this many days back (a day the quotes missed): every
# update recomputes them.
REVISION_WINDOW_DAYS = GAP_WINDOW_DAYS
# ``since`` for a full rebuild.
EVERY_DAY = dt.date.min


def universe_days_update(*, since: dt.date | None = None, today: dt.date | None = None) -> int:
    """Store the universe's days that are missing or may have changed: every day after the
    newest stored one, the REVISION_WINDOW_DAYS before ``today`` (default: today, UTC) and
    every day from ``since`` (after a ratings backfill; ``EVERY_DAY`` rebuilds them all).
    With nothing stored yet (a new or emptied database), every day is computed. One query
    computes them, in one transaction; idempotent. Returns the number of days written."""
    today = today or timezone.now().date()
    with transaction.atomic():
        newest = UniverseDay.objects.aggregate(newest=Max("date"))["newest"]
        start = EVERY_DAY if newest is None else min(newest + DAY, today - dt.timedelta(days=REVISION_WINDOW_DAYS))
        if since is not None:
            start = min(start, since)
        days = _computed_days(start)
        UniverseDay.objects.bulk_create(
            days, update_conflicts=True, unique_fields=["date"], update_fields=["moves_sum", "members", "computed_at"]
        )
        stale = UniverseDay.objects.filter(date__gte=start)
        if days:
            stale = stale.exclude(date__range=(days[0].date, days[-1].date))
        stale.delete()
    return len(days)


def universe_days(*, since: dt.date) -> list[UniverseDay]:
    """The stored days a record from ``since`` reads, in order: from the newest stored day
    before ``since`` (whose close says who is in the universe on ``since``) on. One query."""
    before = UniverseDay.objects.filter(date__lt=since).order_by("-date").values("date")[:1]
    return list(UniverseDay.objects.filter(date__gte=Coalesce(Subquery(before), Value(since))).order_by("date"))


def _computed_days(start: dt.date) -> list[UniverseDay]:
    """The universe's days from ``start`` (``EVERY_DAY``: from its first), one a day to the
    last day with a move or an entrant, the days before its first member left out."""
    now = timezone.now()
    moves_sum: dict[dt.date, float] = {}
    entered: dict[dt.date, int] = {}
    members = 0  # at the close of the day before the one being built
    for day, moved, entrants in _day_sums(start):
        if day is None:  # the tokens that entered before ``start``
            members = int(entrants)
            continue
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
        moves_sum[day], entered[day] = float(moved), int(entrants)
    if not moves_sum:
        return []
    days, day, last = [], min(entered) if start == EVERY_DAY else start, max(entered)
    while day <= last:
        members += entered.get(day, 0)
        if members:
            days.append(UniverseDay(date=day, moves_sum=moves_sum.get(day, 0.0), members=members, computed_at=now))
        day += DAY
    return days


def _day_sums(start: dt.date) -> list[tuple]:
    """One GROUP BY day over the prices from ``start``: (day, the sum of the day's moves of the
    tokens rated before it, the tokens entering at its close), and a row with no day counting
    those that entered before ``start``. A move is from the token's previous positive price
    (LAG from the day before ``start``; without a price that day, a probe for its last one);
    a token enters at the close of the later of its first rating and first positive price
    (one index probe each).
    Portable SQL (PostgreSQL, SQLite ≥ 3.25); floating point (≈15 significant digits)."""
    quote = connection.ops.quote_name
    prices, ratings, tokens = (quote(m._meta.db_table) for m in (PriceDay, Rating, Token))
    sql = f"""
        WITH firsts AS (
            SELECT t.id AS token_id,
                   (SELECT MIN(r.date) FROM {ratings} r WHERE r.token_id = t.id) AS rated,
                   (SELECT MIN(p.date) FROM {prices} p WHERE p.token_id = t.id AND p.price_usd > 0) AS priced
            FROM {tokens} t
        ),
        lagged AS (
            SELECT p.token_id, p.date, CAST(p.price_usd AS DOUBLE PRECISION) AS price,
                   CAST(p.price_usd AS DOUBLE PRECISION) / CAST(
                       LAG(p.price_usd) OVER (PARTITION BY p.token_id ORDER BY p.date) AS DOUBLE PRECISION
                   ) - 1 AS moved
            FROM {prices} p
            WHERE p.price_usd > 0 AND p.date >= %s
        ),
        moves AS (
            SELECT l.token_id, l.date, COALESCE(l.moved, l.price / CAST((
                       SELECT q.price_usd FROM {prices} q
                       WHERE q.token_id = l.token_id AND q.date < %s AND q.price_usd > 0
                       ORDER BY q.date DESC LIMIT 1
                   ) AS DOUBLE PRECISION) - 1) AS moved
            FROM lagged l
            WHERE l.date >= %s
        ),
        entries AS (
            SELECT CASE WHEN rated > priced THEN rated ELSE priced END AS day
            FROM firsts WHERE rated IS NOT NULL AND priced IS NOT NULL
        )
        SELECT day, SUM(moved), SUM(entered) FROM (
            SELECT m.date AS day, m.moved AS moved, 0 AS entered
            FROM moves m JOIN firsts f ON f.token_id = m.token_id
            WHERE m.moved IS NOT NULL AND m.date > f.rated
            UNION ALL
            SELECT CASE WHEN day >= %s THEN day END, 0, 1 FROM entries
        ) days
        GROUP BY day
    """
    with connection.cursor() as cursor:
        # The window starts a day early: a token's price the day before is its LAG, not a probe.
        day_before = start - DAY if start > EVERY_DAY else start
        cursor.execute(sql, [day_before, start, start, start])
        return cursor.fetchall()
