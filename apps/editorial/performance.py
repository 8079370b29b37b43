"""The performance record of editors' Top 10 lists: what each entry did since it joined, and
what the list did since publication against the rated universe (issue 14).

Works on token ids and dates, never on editorial models, so pages, the admin and tests feed
it the same plain input. What readers are told:

- **A holding** is a token's stay on a list: it enters at the close of the day of the
  revision that added it and leaves at the close of the day of the revision that dropped it
  (still held: no exit). A token dropped and later re-added has two holdings.
- **A holding's change** is its end price over its entry price, minus one. The end price is
  the exit day's close for a dropped token, else the newest price on or before the record's
  end. A day without a price carries the last known price forward; a token with no price on
  its entry day or before has no change ("—") and counts nowhere until it has a price.
- **The list's record** holds every holding, the dropped ones included, with equal weight,
  rebalanced daily: the list's return on day d is the mean of the daily returns
  (p(d) / p(d−1) − 1, carried prices) of the holdings held over day d — joined before d,
  not exited before d (a holding exited on d still counts on d) — that have a price on
  d−1. A day with none held returns 0. The index chains (1 + return) from 1.0 on the
  publication day; the list's return is the last index − 1. So a dropped token counts
  exactly until its exit day.
- **The universe** is the same equal-weighted daily mean over every token rated on d−1 or
  earlier (its first rating, under any methodology, dated before d) that has a price on d−1
  or earlier; a rated token without a price on d (carried) returns 0 that day. Its days are
  computed by the database in floating point (≈15 significant digits) and stored by
  ``apps.ratings.universe_days`` after every ratings recompute; a day not stored yet (newer
  than the last recompute) has no move: the universe's index stays flat over it.

The lists' figures are Decimals computed as ``apps.tokens.metrics`` does (``EXACT``), the
returns rounded once to 10 places; the chart series are floats.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from apps.ratings.models import UniverseDay
from apps.ratings.universe_days import universe_days
from apps.tokens.metrics import EXACT, rounded
from apps.tokens.models import PriceDay
from apps.tokens.snapshots import RATIO_LIMIT, RATIO_PLACES

ONE = Decimal(1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Holding:
    token_id: int
    joined: dt.date  # the revision's day it entered (its entry price is that day's close)
    exited: dt.date | None  # the revision's day it left (its exit price is that day's close); None: held


@dataclass(frozen=True)
class HoldingReturn:
    token_id: int
    joined: dt.date
    exited: dt.date | None
    start_price: Decimal | None
    end_price: Decimal | None
    change: Decimal | None
    as_of: dt.date | None  # the day of the end price


@dataclass(frozen=True)
class Record:
    start: dt.date
    end: dt.date
    # Chart series: one point a day from ``start``, both indices 1.0 there.
    days: list[dt.date]
    list_index: list[float]
    universe_index: list[float]
    list_return: Decimal | None
    universe_return: Decimal | None
    holdings: dict[tuple[int, dt.date], HoldingReturn]
    as_of: dt.date | None  # the newest price day used


def memberships(revisions: Sequence[tuple[dt.date, Sequence[int]]], *, end: dt.date | None = None) -> list[Holding]:
    """Holdings from a list's revisions in order: (day, the token ids on the list after that
    revision). ``end`` (an archived list's day) closes the holdings still open. A token added
    and dropped on the same day was never held and gives no holding."""
    stays: list[list] = []  # [token id, joined, exited], in the order the tokens joined
    open_at: dict[int, int] = {}  # token id -> its open stay's position in ``stays``
    previous_day: dt.date | None = None
    for day, token_ids in revisions:
        if previous_day is not None and day < previous_day:
            raise ValueError(f"revisions out of order: {day} after {previous_day}")
        previous_day = day
        members = dict.fromkeys(token_ids)
        for token_id in [t for t in open_at if t not in members]:
            stays[open_at.pop(token_id)][2] = day
        for token_id in members:
            if token_id not in open_at:
                open_at[token_id] = len(stays)
                stays.append([token_id, day, None])
    if end is not None and previous_day is not None and end < previous_day:
        raise ValueError(f"the list ends on {end}, before its last revision on {previous_day}")
    holdings = [Holding(t, joined, exited if exited is not None else end) for t, joined, exited in stays]
    return [h for h in holdings if h.exited is None or h.joined < h.exited]


def record(holdings: Sequence[Holding], *, start: dt.date, end: dt.date) -> Record:
    """The record of one list published on ``start`` (see ``records``)."""
    return records({0: (holdings, start)}, end=end)[0]


def records(holdings_by_list: Mapping[int, tuple[Sequence[Holding], dt.date]], *, end: dt.date) -> dict[int, Record]:
    """Each list's record to ``end``, keyed by list id; the value is (its holdings, its
    publication day). One read of the prices of every list's tokens together and one of the
    universe's stored days: two queries however many lists and holdings."""
    for list_id, (_, start) in holdings_by_list.items():
        if start > end:
            raise ValueError(f"list {list_id} is published on {start}, after the record's end {end}")
    token_ids = {h.token_id for holdings, _ in holdings_by_list.values() for h in holdings}
    prices = _prices(token_ids, end=end)
    since = min((start for _, start in holdings_by_list.values()), default=end)
    universe = universe_series(since=since)
    newest = max((series.days[-1] for series in prices.values()), default=None)
    if universe:
        newest = max(newest or universe[-1].date, universe[-1].date)
    last = min(end, newest) if newest else None
    return {
        list_id: _record(holdings, start=start, end=end, last=last, prices=prices, universe=universe)
        for list_id, (holdings, start) in holdings_by_list.items()
    }


class _Prices:
    """A token's positive closes by day, read with the last known price carried forward."""

    def __init__(self, rows: Iterable[tuple[dt.date, Decimal]]) -> None:
        self.days, self.values = [], []
        for day, price in rows:
            self.days.append(day)
            self.values.append(price)

    def on(self, day: dt.date) -> tuple[dt.date, Decimal] | None:
        """The newest price on or before ``day`` and its day."""
        at = bisect_right(self.days, day) - 1
        return (self.days[at], self.values[at]) if at >= 0 else None


def _prices(token_ids: set[int], *, end: dt.date) -> dict[int, _Prices]:
    rows: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    if token_ids:
        for token_id, day, price in (
            PriceDay.objects.filter(token_id__in=token_ids, date__lte=end, price_usd__gt=0)
            .order_by("token_id", "date")
            .values_list("token_id", "date", "price_usd")
        ):
            rows[token_id].append((day, price))
    return {token_id: _Prices(days) for token_id, days in rows.items()}


def _record(
    holdings: Sequence[Holding],
    *,
    start: dt.date,
    end: dt.date,
    last: dt.date | None,
    prices: dict[int, _Prices],
    universe: list[UniverseDay],
) -> Record:
    days = [start]
    while last is not None and days[-1] < last:
        days.append(days[-1] + DAY)
    empty = _Prices(())
    returns = {(h.token_id, h.joined): _holding_return(h, prices.get(h.token_id, empty), end) for h in holdings}
    index, list_index = ONE, [1.0]
    for day in days[1:]:
        moves = []
        for h in holdings:
            if h.joined < day and (h.exited is None or day <= h.exited):
                series = prices.get(h.token_id, empty)
                before = series.on(day - DAY)
                if before is not None:
                    moves.append(EXACT.subtract(EXACT.divide(series.on(day)[1], before[1]), ONE))
        if moves:
            mean = EXACT.divide(sum(moves, start=Decimal(0)), len(moves))
            index = EXACT.multiply(index, EXACT.add(ONE, mean))
        list_index.append(float(index))
    # The newest price each holding's stay used (a token without an entry price included).
    used = [
        seen[0]
        for h in holdings
        if h.joined <= days[-1]
        and (seen := prices.get(h.token_id, empty).on(min(h.exited or days[-1], days[-1]))) is not None
    ]
    universe_index, universe_measured = _universe_index(universe, days)
    return Record(
        start=start,
        end=end,
        days=days,
        list_index=list_index,
        universe_index=universe_index,
        list_return=rounded(EXACT.subtract(index, ONE), RATIO_PLACES, RATIO_LIMIT) if used else None,
        universe_return=(
            rounded(Decimal(repr(universe_index[-1])) - ONE, RATIO_PLACES, RATIO_LIMIT) if universe_measured else None
        ),
        holdings=returns,
        as_of=max(used, default=None),
    )


def _holding_return(holding: Holding, prices: _Prices, end: dt.date) -> HoldingReturn:
    entry = prices.on(holding.joined)
    close = prices.on(min(holding.exited, end) if holding.exited else end) if entry else None
    change = None
    if entry and close:
        change = rounded(EXACT.subtract(EXACT.divide(close[1], entry[1]), ONE), RATIO_PLACES, RATIO_LIMIT)
    return HoldingReturn(
        token_id=holding.token_id,
        joined=holding.joined,
        exited=holding.exited,
        start_price=entry[1] if entry else None,
        end_price=close[1] if close else None,
        change=change,
        as_of=close[0] if close else None,
    )


def _universe_index(universe: list[UniverseDay], days: list[dt.date]) -> tuple[list[float], bool]:
    """The universe's index over ``days``, and whether it had a member on any of them (else
    there was nothing to measure: no return, as for a list without a price)."""
    by_day = {u.date: u for u in universe}
    # In the universe on days[0]: the members at the close of the newest stored day before it.
    members = next((u.members for u in reversed(universe) if u.date < days[0]), 0)
    level, index, measured = 1.0, [1.0], members > 0
    if days[0] in by_day:
        members = by_day[days[0]].members
    for day in days[1:]:
        today = by_day.get(day)
        if members:
            measured = True
            level *= 1 + (today.moves_sum if today else 0.0) / members
        if today:
            members = today.members
        index.append(level)
    return index, measured


def universe_series(*, since: dt.date) -> list[UniverseDay]:
    """The rated universe's stored days that a record published on ``since`` reads (one
    query; see ``apps.ratings.universe_days``)."""
    return universe_days(since=since)
