"""Loading a block of days' rating inputs: the day's snapshot figures, and the daily
price and revenue history behind the inputs that snapshots do not hold.

Four queries per chunk of tokens, whatever the number of days. Only the history the
windows need is read, and nothing dated after the block's last day. On PostgreSQL each
token's history comes back as binary float arrays (one row a token instead of one row a
day): a day of 20,000 tokens reads 3.6 million prices, and per-row transfer and
conversion would cost more than everything else together. Elsewhere (SQLite) plain rows
give the same series.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import connection, connections
from django.db.models import FloatField, OuterRef, Subquery, TextField
from django.db.models.functions import Cast

from apps.tokens.models import MetricSnapshot, PriceDay, RevenueDay, Token

from . import history
from .scoring import METHODOLOGY, TokenInputs

SNAPSHOT_INPUTS = tuple(i.key for i in METHODOLOGY.inputs if i.source == "snapshot")
PRICE_LOOKBACK_DAYS = max(i.window_days for i in METHODOLOGY.inputs if i.source == "prices")
# Market cap is read on the day and on the supply window's first day; volume over its window.
CAP_LOOKBACK_DAYS = METHODOLOGY.input("supply_growth_90d").window_days
VOLUME_LOOKBACK_DAYS = METHODOLOGY.input("liquidity_30d").window_days
RETURNS_LOOKBACK_DAYS = METHODOLOGY.input("volatility_90d").window_days
REVENUE_LOOKBACK_DAYS = (
    max(i.window_days for i in METHODOLOGY.inputs if i.source == "revenue") + history.REVENUE_MAX_LAG_DAYS
)

# Chunks fetched ahead on their own connections while one is computed.
PREFETCH = 2

# A token's series: (token id, day offsets, values…), the lists aligned.
PriceSeries = tuple[int, list[int], list, list, list]
RevenueSeries = tuple[int, list[int], list]


@dataclass
class _Chunk:
    """What the queries of one chunk of tokens return: the block's snapshot figures by
    token, and each token's price and revenue series and first revenue day."""

    tokens: list[tuple[int, str]]
    snapshots: dict[int, list[tuple]] = field(default_factory=dict)
    prices: list[PriceSeries] = field(default_factory=list)
    revenue: list[RevenueSeries] = field(default_factory=list)
    first_revenue_days: dict[int, dt.date] = field(default_factory=dict)


def load_inputs(
    tokens: list[tuple[int, str]], start: dt.date, end: dt.date, chunk_size: int
) -> dict[dt.date, list[TokenInputs]]:
    """Every token-day's inputs from ``start`` to ``end``, for tokens (id, category) that
    have a snapshot that day. Four queries per chunk of ``chunk_size`` tokens."""
    by_day: dict[dt.date, list[TokenInputs]] = defaultdict(list)
    chunks = [tokens[first : first + chunk_size] for first in range(0, len(tokens), chunk_size)]
    for chunk in _fetched(chunks, start, end):
        _build(chunk, start, end, by_day)
    return by_day


def arrays_supported() -> bool:
    return connection.vendor == "postgresql"


def prefetch_possible() -> bool:
    """A second connection sees the rows: PostgreSQL, and not inside a transaction."""
    return arrays_supported() and not connection.in_atomic_block


def _fetched(chunks: list[list[tuple[int, str]]], start: dt.date, end: dt.date) -> Iterator[_Chunk]:
    """The chunks' query results, in order. When it can, the next chunks are fetched by
    ``PREFETCH`` threads on their own connections while this one is computed: the database
    works while Python does, which on two cores takes a large day well under the sum of
    both. At most ``PREFETCH`` chunks wait fetched, so memory stays bounded. Inside a
    transaction (tests, the sample load) another connection would not see its rows."""
    if len(chunks) < 2 or not prefetch_possible():
        for chunk in chunks:
            yield _fetch(chunk, start, end)
        return
    results = [Future() for _ in chunks]
    room = threading.Semaphore(PREFETCH)
    stop = threading.Event()

    def work(first: int) -> None:
        try:
            for index in range(first, len(chunks), PREFETCH):
                room.acquire()
                if stop.is_set():
                    return
                try:
                    results[index].set_result(_fetch(chunks[index], start, end))
                except BaseException as exc:  # handed to the consumer, which raises it
                    results[index].set_exception(exc)
                    return
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(n,), name=f"ratings-fetch-{n}") for n in range(PREFETCH)]
    for thread in threads:
        thread.start()
    try:
        for result in results:
            yield result.result()
            room.release()
    finally:
        stop.set()
        for _ in threads:
            room.release()
        for thread in threads:
            thread.join()


def _fetch(chunk: list[tuple[int, str]], start: dt.date, end: dt.date) -> _Chunk:
    """Four queries: snapshots, prices, revenue, first revenue days (one if no snapshot)."""
    result = _Chunk(tokens=chunk)
    snapshots: dict[int, list[tuple]] = defaultdict(list)
    # PostgreSQL prints a NUMERIC exactly: its text, less trailing zeros, is the stored input,
    # without a Decimal made and normalised per figure.
    figures = [Cast(key, TextField()) for key in SNAPSHOT_INPUTS] if arrays_supported() else SNAPSHOT_INPUTS
    for row in (
        MetricSnapshot.objects.filter(token_id__in=[pk for pk, _ in chunk], date__range=(start, end))
        .order_by()
        .values_list("token_id", "date", *figures)
    ):
        snapshots[row[0]].append(row[1:])
    if not snapshots:
        return result
    result.snapshots = dict(snapshots)
    ids = list(snapshots)
    origin = start - dt.timedelta(days=PRICE_LOOKBACK_DAYS)
    arrays = arrays_supported()
    prices = _price_arrays if arrays else _price_rows
    lag = dt.timedelta(days=CAP_LOOKBACK_DAYS)
    result.prices = list(
        prices(
            ids,
            origin,
            end,
            cap_days=((start - lag, end - lag), (start, end)),
            volume_from=start - dt.timedelta(days=VOLUME_LOOKBACK_DAYS - 1),
        )
    )
    revenue = _revenue_arrays if arrays else _revenue_rows
    result.revenue = list(revenue(ids, origin, start - dt.timedelta(days=REVENUE_LOOKBACK_DAYS), end))
    # One index probe a token for its first revenue day, rather than a scan of its history.
    first_day = RevenueDay.objects.filter(token=OuterRef("pk"), date__lte=end, revenue_usd__isnull=False)
    result.first_revenue_days = dict(
        Token.objects.filter(pk__in=ids)
        .annotate(first=Subquery(first_day.order_by("date").values("date")[:1]))
        .filter(first__isnull=False)
        .values_list("pk", "first")
    )
    return result


def _build(chunk: _Chunk, start: dt.date, end: dt.date, by_day: dict[dt.date, list[TokenInputs]]) -> None:
    """Each token-day's inputs from a chunk's query results (no query)."""
    if not chunk.snapshots:
        return
    origin = start - dt.timedelta(days=PRICE_LOOKBACK_DAYS)
    span = (end - origin).days + 1
    histories = {
        pk: history.TokenHistory(origin, [None] * span, [None] * span, [None] * span, [None] * span)
        for pk in chunk.snapshots
    }
    for token_id, offsets, price, cap, volume in chunk.prices:
        item = histories[token_id]
        _fill(item.prices, offsets, price)
        _fill(item.market_caps, offsets, cap)
        _fill(item.volumes, offsets, volume)
    for token_id, offsets, amounts in chunk.revenue:
        _fill(histories[token_id].revenue, offsets, amounts)
    for token_id, first_day in chunk.first_revenue_days.items():
        histories[token_id].first_revenue_day = first_day
    returns_from = max((start - origin).days - RETURNS_LOOKBACK_DAYS, 0)
    canonical = history.canonical
    for token_id, category in chunk.tokens:
        rows = chunk.snapshots.get(token_id)
        if not rows:
            continue
        item = histories[token_id]
        item.index(since=returns_from)
        for day, *figures in rows:
            # Always in the same order (snapshot, price, revenue inputs): a rating's digest reads them in it.
            values = dict(zip(SNAPSHOT_INPUTS, map(canonical, figures), strict=True))
            prices = history.price_inputs(item, day)
            values.update(zip(prices, map(canonical, prices.values()), strict=True))
            revenue = history.revenue_inputs(item, day)
            values.update(zip(revenue, map(canonical, revenue.values()), strict=True))
            by_day[day].append(TokenInputs(token_id, category, values))


def _fill(series: list, offsets: list[int], values: list) -> None:
    """Put each value at its day's offset: one slice when the days come in order, no gap."""
    if not offsets:
        return
    first = offsets[0]
    if offsets == list(range(first, first + len(offsets))):
        series[first : first + len(offsets)] = values
    else:
        for offset, value in zip(offsets, values, strict=True):
            series[offset] = value


# --- Rows (any database) -------------------------------------------------------------------


CapDays = tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]


def _price_rows(
    ids: list[int], origin: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> Iterator[PriceSeries]:
    (early_from, early_to), (late_from, late_to) = cap_days
    as_float = FloatField()
    series: dict[int, PriceSeries] = {}
    for token_id, day, price, cap, volume in (
        PriceDay.objects.filter(token_id__in=ids, date__range=(origin, end))
        .order_by("token_id", "date")
        .values_list(
            "token_id",
            "date",
            Cast("price_usd", as_float),
            Cast("market_cap_usd", as_float),
            Cast("volume_usd", as_float),
        )
    ):
        _, offsets, prices, caps, volumes = series.setdefault(token_id, (token_id, [], [], [], []))
        offsets.append((day - origin).days)
        prices.append(price)
        caps.append(cap if early_from <= day <= early_to or late_from <= day <= late_to else None)
        volumes.append(volume if day >= volume_from else None)
    yield from series.values()


def _revenue_rows(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Iterator[RevenueSeries]:
    series: dict[int, RevenueSeries] = {}
    for token_id, day, amount in (
        RevenueDay.objects.filter(token_id__in=ids, date__range=(since, end), revenue_usd__isnull=False)
        .order_by("token_id", "date")
        .values_list("token_id", "date", Cast("revenue_usd", FloatField()))
    ):
        _, offsets, amounts = series.setdefault(token_id, (token_id, [], []))
        offsets.append((day - origin).days)
        amounts.append(amount)
    yield from series.values()


# --- Arrays (PostgreSQL) -------------------------------------------------------------------


def _price_arrays(
    ids: list[int], origin: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> Iterator[PriceSeries]:
    """One row a token: day offsets and values as float8 arrays. The arrays aggregate the
    same rows in the same order, so each value sits beside its day's offset: no ORDER BY
    (a sort per token would cost more than the rest of the query). Market cap and volume
    are converted only on the days their windows read."""
    sql = f"""
        SELECT token_id,
               array_agg(date - %(origin)s),
               array_agg(price_usd::float8),
               array_agg(CASE WHEN date BETWEEN %(cap_a)s AND %(cap_b)s OR date BETWEEN %(cap_c)s AND %(cap_d)s
                              THEN market_cap_usd::float8 END),
               array_agg(CASE WHEN date >= %(volume_from)s THEN volume_usd::float8 END)
        FROM {PriceDay._meta.db_table}
        WHERE token_id = ANY(%(ids)s) AND date BETWEEN %(origin)s AND %(end)s
        GROUP BY token_id
    """
    (cap_a, cap_b), (cap_c, cap_d) = cap_days
    params = {
        "ids": ids,
        "origin": origin,
        "end": end,
        "cap_a": cap_a,
        "cap_b": cap_b,
        "cap_c": cap_c,
        "cap_d": cap_d,
        "volume_from": volume_from,
    }
    yield from _binary_rows(sql, params)


def _revenue_arrays(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Iterator[RevenueSeries]:
    sql = f"""
        SELECT token_id, array_agg(date - %(origin)s), array_agg(revenue_usd::float8)
        FROM {RevenueDay._meta.db_table}
        WHERE token_id = ANY(%(ids)s) AND date BETWEEN %(since)s AND %(end)s AND revenue_usd IS NOT NULL
        GROUP BY token_id
    """
    yield from _binary_rows(sql, {"ids": ids, "origin": origin, "since": since, "end": end})


def _binary_rows(sql: str, params: dict) -> list[tuple]:
    """Rows in PostgreSQL's binary format: the floats arrive without being printed and
    parsed. Django's cursors bind parameters client-side, which rules binary results out,
    so this one is psycopg's own, on Django's connection (and logged as Django would)."""
    import psycopg

    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": " ".join(sql.split()), "time": f"{time.monotonic() - started:.3f}"})
    return rows
