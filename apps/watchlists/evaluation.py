"""Alert evaluation: one set-based pass over every active rule for one day.

Each kind is one SQL query joining the rules — expanded through watchlist items — with the
day's rating changes, snapshots or accrual events, and returns only the matches; the
notifications are inserted in one statement that skips (rule, event_key) pairs already
there. The number of queries is fixed (one a kind, one insert) whatever the number of
rules, and running the same day twice, or again after a worker died mid-run, fires each
(rule, event) once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import RatingChange
from apps.tokens.models import AccrualEvent, MetricSnapshot, Token

from .models import AlertDelivery, AlertDirection, AlertKind, AlertRule, Notification, WatchlistItem

# A better grade ranks higher; not rated ("" or "NR" in a rating change) ranks below E.
GRADE_RANK = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1, "": 0}
# Bearish < neutral < bullish; no signal counts as neutral.
SIGNAL_RANK = {"bearish": 0, "neutral": 1, "": 1, "bullish": 2}
ACCRUAL_KINDS = (AccrualEvent.Kind.BUYBACK.value, AccrualEvent.Kind.BUYBACK_BURN.value, AccrualEvent.Kind.BURN.value)


@dataclass(frozen=True)
class Match:
    rule_id: int
    user_id: int
    token_id: int
    delivery: str
    event_key: str
    message: str
    data: dict


@dataclass(frozen=True)
class EvaluationResult:
    day: dt.date
    matched: int  # matches found, including those that had fired already
    immediate: int  # of which delivered by immediate email


def _targets_sql() -> str:
    """Active rules of one kind, one row per (rule, token): a watchlist rule gives a row per
    token on the list. Two parameters: the kind, twice."""
    rule, item = AlertRule._meta.db_table, WatchlistItem._meta.db_table
    return f"""
        WITH targets AS (
            SELECT r.id AS rule_id, r.user_id, r.threshold, r.direction, r.delivery, r.token_id
            FROM {rule} r WHERE r.kind = %s AND r.is_active AND r.token_id IS NOT NULL
            UNION ALL
            SELECT r.id, r.user_id, r.threshold, r.direction, r.delivery, i.token_id
            FROM {rule} r JOIN {item} i ON i.watchlist_id = r.watchlist_id
            WHERE r.kind = %s AND r.is_active AND r.watchlist_id IS NOT NULL
        )"""


def _rows(sql: str, params: Iterable) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _fmt(value) -> str:
    """A decimal as plain text without trailing zeros (1.50 → 1.5)."""
    return f"{Decimal(str(value)).normalize():f}"


def _direction_ok(direction: str, before: int, after: int) -> bool:
    if direction == AlertDirection.UP:
        return after > before
    if direction == AlertDirection.DOWN:
        return after < before
    return after != before


def _rating_change_matches(day: dt.date, kind: str) -> list[Match]:
    """Band changes (investor or trader) and signal flips: the day's RatingChange rows of that
    kind, in the rule's direction."""
    if kind == AlertKind.SIGNAL_FLIP:
        change, subject, ranks, unranked = RatingChange.Kind.SIGNAL_FLIP.value, None, SIGNAL_RANK, 1
    else:
        subject = "investor" if kind == AlertKind.INVESTOR_BAND else "trader"
        change, ranks, unranked = RatingChange.Kind.BAND_CHANGE.value, GRADE_RANK, 0
    sql = f"""{_targets_sql()}
        SELECT t.rule_id, t.user_id, t.direction, t.delivery, t.token_id, c.before, c.after
        FROM targets t JOIN {RatingChange._meta.db_table} c ON c.token_id = t.token_id
        WHERE c.date = %s AND c.kind = %s AND c.methodology_version = %s
        {"AND c.subject = %s" if subject else ""}"""
    params = [kind, kind, day, change, METHODOLOGY.version, *([subject] if subject else [])]
    matches = []
    for rule_id, user_id, direction, delivery, token_id, before, after in _rows(sql, params):
        if not _direction_ok(direction, ranks.get(before, unranked), ranks.get(after, unranked)):
            continue
        moved = f"{before or '-'}->{after or '-'}"
        if subject:
            was, now = (grade if grade in GRADE_RANK and grade else "not rated" for grade in (before, after))
            key, message = f"band:{subject}:{token_id}:{day}:{moved}", f"{subject} grade {was} → {now}"
        else:
            key, message = f"signal:{token_id}:{day}:{moved}", f"signal {before or 'none'} → {after or 'none'}"
        data = {"kind": kind, "day": str(day), "before": before, "after": after}
        matches.append(Match(rule_id, user_id, token_id, delivery, key, f"{{symbol}}: {message} on {day}", data))
    return matches


def _two_days_sql(column: str, condition: str) -> str:
    """Targets with ``column`` on ``day`` (s0) and on an earlier day (s1) meeting ``condition``."""
    snapshot = MetricSnapshot._meta.db_table
    return f"""{_targets_sql()}
        SELECT t.rule_id, t.user_id, t.delivery, t.token_id, t.threshold, s0.{column}, s1.{column}
        FROM targets t
        JOIN {snapshot} s0 ON s0.token_id = t.token_id AND s0.date = %s
        JOIN {snapshot} s1 ON s1.token_id = t.token_id AND s1.date = %s
        WHERE s0.{column} IS NOT NULL AND {condition}"""


# Percentage moves: (column, days back, what the message calls it, event key prefix).
MOVES = {
    AlertKind.REVENUE_WOW: ("revenue_annualised", 7, "annualised revenue", "revenue-wow", "week over week"),
    AlertKind.HOLDERS_REVENUE_WOW: (
        "holders_revenue_annualised",
        7,
        "holders revenue",
        "holders-revenue-wow",
        "week over week",
    ),
    AlertKind.PRICE_MOVE: ("price_usd", 1, "price", "price-24h", "in 24 h"),
}


def _move_matches(day: dt.date, kind: str) -> list[Match]:
    column, days_back, label, prefix, period = MOVES[AlertKind(kind)]
    # Only moves past the threshold come back: the comparison is done on the database.
    sql = _two_days_sql(
        column,
        f"""s1.{column} > 0 AND (
            (t.direction IN ('up', 'any') AND (s0.{column} - s1.{column}) * 100 >= t.threshold * s1.{column})
            OR (t.direction IN ('down', 'any') AND (s1.{column} - s0.{column}) * 100 >= t.threshold * s1.{column})
        )""",
    )
    params = [kind, kind, day, day - dt.timedelta(days=days_back)]
    matches = []
    for rule_id, user_id, delivery, token_id, threshold, now, then in _rows(sql, params):
        now, then = Decimal(str(now)), Decimal(str(then))
        change = (now - then) / then * 100
        way = "up" if change > 0 else "down"
        matches.append(
            Match(
                rule_id,
                user_id,
                token_id,
                delivery,
                f"{prefix}:{token_id}:{day}",
                f"{{symbol}}: {label} {way} {abs(change):.1f}% {period} (threshold {_fmt(threshold)}%) on {day}",
                {"kind": kind, "day": str(day), "now": str(now), "before": str(then), "change_pct": f"{change:.2f}"},
            )
        )
    return matches


CROSSES = {AlertKind.PS_CROSS: ("ps", "P/S", "ps-cross"), AlertKind.PHR_CROSS: ("phr", "P/HR", "phr-cross")}


def _cross_matches(day: dt.date, kind: str) -> list[Match]:
    column, label, prefix = CROSSES[AlertKind(kind)]
    sql = _two_days_sql(
        column,
        f"""s1.{column} IS NOT NULL AND (
            (t.direction IN ('up', 'any') AND s1.{column} < t.threshold AND s0.{column} >= t.threshold)
            OR (t.direction IN ('down', 'any') AND s1.{column} >= t.threshold AND s0.{column} < t.threshold)
        )""",
    )
    params = [kind, kind, day, day - dt.timedelta(days=1)]
    matches = []
    for rule_id, user_id, delivery, token_id, threshold, now, then in _rows(sql, params):
        now, then, threshold = Decimal(str(now)), Decimal(str(then)), Decimal(str(threshold))
        side = "above" if now >= threshold else "below"
        matches.append(
            Match(
                rule_id,
                user_id,
                token_id,
                delivery,
                f"{prefix}:{token_id}:{side}:{_fmt(threshold)}:{day}",
                f"{{symbol}}: {label} crossed {side} {_fmt(threshold)} ({then:.2f} → {now:.2f}) on {day}",
                {"kind": kind, "day": str(day), "now": str(now), "before": str(then), "side": side},
            )
        )
    return matches


def _accrual_matches(day: dt.date, kind: str) -> list[Match]:
    placeholders = ", ".join(["%s"] * len(ACCRUAL_KINDS))
    sql = f"""{_targets_sql()}
        SELECT t.rule_id, t.user_id, t.delivery, t.token_id, e.id, e.kind, e.usd_amount
        FROM targets t JOIN {AccrualEvent._meta.db_table} e ON e.token_id = t.token_id
        WHERE e.date = %s AND e.kind IN ({placeholders}) AND e.usd_amount >= t.threshold"""
    params = [kind, kind, day, *ACCRUAL_KINDS]
    labels = dict(AccrualEvent.Kind.choices)
    matches = []
    for rule_id, user_id, delivery, token_id, event_id, event_kind, amount in _rows(sql, params):
        amount = Decimal(str(amount))
        matches.append(
            Match(
                rule_id,
                user_id,
                token_id,
                delivery,
                f"event:{event_id}",
                f"{{symbol}}: {labels[event_kind].lower()} of ${amount:,.0f} on {day}",
                {"kind": kind, "day": str(day), "event": event_id, "event_kind": event_kind, "usd": str(amount)},
            )
        )
    return matches


MATCHERS = {
    AlertKind.INVESTOR_BAND: _rating_change_matches,
    AlertKind.TRADER_BAND: _rating_change_matches,
    AlertKind.SIGNAL_FLIP: _rating_change_matches,
    AlertKind.REVENUE_WOW: _move_matches,
    AlertKind.HOLDERS_REVENUE_WOW: _move_matches,
    AlertKind.PRICE_MOVE: _move_matches,
    AlertKind.PS_CROSS: _cross_matches,
    AlertKind.PHR_CROSS: _cross_matches,
    AlertKind.ACCRUAL_EVENT: _accrual_matches,
}


def alerts_evaluate(*, day: dt.date) -> EvaluationResult:
    """Fires every active rule that the facts of ``day`` match; one notification per
    (rule, event), however often this runs."""
    matches: list[Match] = []
    for kind in AlertKind:
        matches.extend(MATCHERS[kind](day, kind.value))
    if matches:
        # Symbols in one query for the tokens that matched, not one per match.
        symbols = dict(Token.objects.filter(pk__in={m.token_id for m in matches}).values_list("pk", "symbol"))
        with transaction.atomic():
            Notification.objects.bulk_create(
                [
                    Notification(
                        user_id=m.user_id,
                        rule_id=m.rule_id,
                        token_id=m.token_id,
                        event_key=m.event_key,
                        message=m.message.replace("{symbol}", symbols.get(m.token_id, "?").upper(), 1),
                        data=m.data,
                        delivery=m.delivery,
                    )
                    for m in matches
                ],
                ignore_conflicts=True,
            )
    immediate = sum(1 for m in matches if m.delivery == AlertDelivery.IMMEDIATE)
    return EvaluationResult(day=day, matched=len(matches), immediate=immediate)


def newest_day() -> dt.date | None:
    return MetricSnapshot.objects.order_by("-date").values_list("date", flat=True).first()
