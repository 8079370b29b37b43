"""Loading a block of days' rating inputs: the day's snapshot figures, and the daily
price and revenue history (and burns) behind the inputs that snapshots do not hold.

A day's universe is the tokens priced that day (the methodology's ``universe_rule``): a
token whose price history starts later is not rated before it, one delisted since keeps
its past days. Five queries per chunk of tokens, whatever the number of days. Only the history the
windows need is read, and nothing dated after the block's last day. On PostgreSQL a
chunk's history comes back as flat binary arrays (one row a query instead of one row a
token-day, and no Python object a figure): a day of 20,000 tokens reads 3.6 million prices.
Every series is three aligned arrays (token ids, day offsets, values), the offsets counted
from one origin that precedes every window (``block_origin``): no window, however long,
can put a figure on another token or another day.
Elsewhere (SQLite) plain rows give the same series. A chunk's series become NumPy arrays
(one row a token) and ``history.block_price_inputs`` computes each day for all of them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import psycopg
from django.db import connection, connections
from django.db.models import FloatField, OuterRef, Subquery
from django.db.models.functions import Cast
from psycopg import postgres
from psycopg.adapt import Loader
from psycopg.pq import Format

from apps.tokens.models import AccrualEvent, MetricSnapshot, PriceDay, RevenueDay, Token

from . import history
from .methodology import METHODOLOGY
from .scoring import TokenInputs

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

# A series of a chunk of tokens: token ids, day offsets from the block's origin, and the
# values on them (only the days with a value), as aligned NumPy arrays.
Series = tuple[np.ndarray, np.ndarray, np.ndarray]
EMPTY: Series = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp), np.empty(0))
DERIVED_INPUTS = (*history.PRICE_INPUTS, "revenue_history_days", "revenue_consistency_90d")


def block_origin(start: dt.date) -> dt.date:
    """Day offset 0 of a block's series: the first day any window of its first day reads."""
    return start - dt.timedelta(days=max(PRICE_LOOKBACK_DAYS, REVENUE_LOOKBACK_DAYS))


@dataclass
class _Chunk:
    """What the queries of one chunk of tokens return: the block's snapshot figures by
    token, the tokens' price and revenue series, and their first revenue days."""

    tokens: list[tuple[int, str]]
    snapshots: dict[int, list[tuple]] = field(default_factory=dict)
    prices: tuple[Series, Series, Series] = (EMPTY, EMPTY, EMPTY)  # prices, market caps, volumes
    revenue: Series = EMPTY
    first_revenue_days: dict[int, dt.date] = field(default_factory=dict)
    burns: dict[int, Burns] = field(default_factory=dict)


@dataclass
class Burns:
    """A token's burns to date: each burn day and the total burned up to it, and its max supply."""

    days: list[dt.date]
    totals: list[float]
    max_supply: float | None

    def burned(self, day: dt.date) -> float | None:
        """The total burned on or before ``day`` (None: no burn by then)."""
        position = bisect_right(self.days, day)
        return self.totals[position - 1] if position else None


def load_inputs(
    tokens: list[tuple[int, str]], start: dt.date, end: dt.date, chunk_size: int
) -> dict[dt.date, list[TokenInputs]]:
    """Every token-day's inputs from ``start`` to ``end``, for tokens (id, category) that
    have a snapshot and a price that day. Five queries per chunk of ``chunk_size`` tokens."""
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
    # Chunk i may be fetched once fewer than PREFETCH chunks before it wait unconsumed. A
    # shared semaphore let one thread run a stride ahead and take the permit the chunk the
    # consumer waited for needed: a deadlock. Waiting on the chunk's own index cannot.
    consumed = [0]
    turn = threading.Condition()
    stop = threading.Event()

    def work(first: int) -> None:
        try:
            for index in range(first, len(chunks), PREFETCH):
                with turn:
                    turn.wait_for(lambda index=index: stop.is_set() or index < consumed[0] + PREFETCH)
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
        for index, result in enumerate(results):
            yield result.result()
            results[index] = None  # a chunk computed is not kept
            with turn:
                consumed[0] += 1
                turn.notify_all()
    finally:
        stop.set()
        with turn:
            turn.notify_all()
        for thread in threads:
            thread.join()


def _fetch(chunk: list[tuple[int, str]], start: dt.date, end: dt.date) -> _Chunk:
    """Five queries: snapshots, prices, revenue, first revenue days, burns (one if no snapshot)."""
    result = _Chunk(tokens=chunk)
    arrays = arrays_supported()
    snapshots: dict[int, list[tuple]] = defaultdict(list)
    for token_id, *row in _snapshot_rows([pk for pk, _ in chunk], start, end):
        snapshots[token_id].append(tuple(row))
    if not snapshots:
        return result
    result.snapshots = dict(snapshots)
    ids = list(snapshots)
    origin = block_origin(start)
    lag = dt.timedelta(days=CAP_LOOKBACK_DAYS)
    result.prices = (_price_arrays if arrays else _price_rows)(
        ids,
        origin,
        start - dt.timedelta(days=PRICE_LOOKBACK_DAYS),
        end,
        cap_days=((start - lag, end - lag), (start, end)),
        volume_from=start - dt.timedelta(days=VOLUME_LOOKBACK_DAYS - 1),
    )
    since = start - dt.timedelta(days=REVENUE_LOOKBACK_DAYS)
    result.revenue = (_revenue_arrays if arrays else _revenue_rows)(ids, origin, since, end)
    result.first_revenue_days = dict(_first_revenue_rows(ids, end))
    result.burns = _burns(ids, end)
    return result


def _build(chunk: _Chunk, start: dt.date, end: dt.date, by_day: dict[dt.date, list[TokenInputs]]) -> None:
    """Each token-day's inputs from a chunk's query results (no query)."""
    if not chunk.snapshots:
        return
    origin = block_origin(start)
    span = (end - origin).days + 1
    rows = {pk: row for row, pk in enumerate(chunk.snapshots)}
    ids = np.fromiter(rows, dtype=np.int64, count=len(rows))
    order = np.argsort(ids)
    ordered = ids[order]

    def placed(series: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A series' rows, day offsets and values, for the tokens of the chunk; and which
        tokens have a NaN or infinite figure among them."""
        tokens, offsets, values = series
        if len(offsets) and not (offsets.min() >= 0 and offsets.max() < span):
            raise ValueError("a series reaches outside the block's days")
        at = np.minimum(np.searchsorted(ordered, tokens), len(ordered) - 1)
        known = ordered[at] == tokens
        odd = tokens[known & ~np.isfinite(values)]
        return order[at[known]], offsets[known], values[known], odd

    shape = (len(rows), span)
    arrays = [np.full(shape, np.nan) for _ in range(4)]
    odd_ids: set[int] = set()
    for target, series in zip(arrays, (*chunk.prices, chunk.revenue), strict=True):
        row, offset, values, odd = placed(series)
        target[row, offset] = values
        odd_ids.update(odd.tolist())
    prices, caps, volumes, revenue = arrays
    block = history.SeriesBlock(
        origin, prices, caps, volumes, revenue, [chunk.first_revenue_days.get(pk) for pk in rows]
    )
    # A NaN or infinite figure would pass for a missing one in the arrays: such a token
    # (none in practice) is computed alone, by the definition.
    odd = {
        token_id: _token_history(chunk, token_id, origin, span, max((start - origin).days - RETURNS_LOOKBACK_DAYS, 0))
        for token_id in odd_ids
    }
    canonical = history.canonical
    derived: dict[dt.date, list[tuple]] = {}  # each row's derived inputs, stored form, by day
    for day in sorted({row[0] for token_rows in chunk.snapshots.values() for row in token_rows}):
        k = (day - origin).days
        columns = {**history.block_price_inputs(block, k), **history.block_revenue_inputs(block, k)}
        derived[day] = list(zip(*([canonical(v) for v in columns[key]] for key in DERIVED_INPUTS), strict=True))
    for token_id, category in chunk.tokens:
        token_rows = chunk.snapshots.get(token_id)
        if not token_rows:
            continue
        row, item = rows[token_id], odd.get(token_id)
        burns = chunk.burns.get(token_id)
        for day, *figures in token_rows:
            k = (day - origin).days
            price = prices[row, k]
            if not price > 0:  # not priced that day (NaN: no price): not in the day's universe
                continue
            # Always in the same order (snapshot, price, revenue, burn inputs): a rating's digest reads them in it.
            values = dict(zip(SNAPSHOT_INPUTS, map(canonical, figures), strict=True))
            if item is None:
                values.update(zip(DERIVED_INPUTS, derived[day][row], strict=True))
            else:
                computed = {**history.price_inputs(item, day), **history.revenue_inputs(item, day)}
                values.update((key, canonical(computed[key])) for key in DERIVED_INPUTS)
            cap = caps[row, k]
            values["burned_share"] = (
                canonical(
                    history.burned_share(
                        burns.burned(day),
                        max_supply=burns.max_supply,
                        market_cap=None if cap != cap else float(cap),
                        price=float(price),
                    )
                )
                if burns
                else None
            )
            by_day[day].append(TokenInputs(token_id, category, values))


def _token_history(chunk: _Chunk, token_id: int, origin: dt.date, span: int, since: int) -> history.TokenHistory:
    """One token's series as the definition reads them (None where no data)."""
    item = history.TokenHistory(origin, [None] * span, [None] * span, [None] * span, [None] * span)
    for target, (tokens, offsets, values) in zip(
        (item.prices, item.market_caps, item.volumes, item.revenue), (*chunk.prices, chunk.revenue), strict=True
    ):
        mine = tokens == token_id
        for offset, value in zip(offsets[mine].tolist(), values[mine].tolist(), strict=True):
            target[offset] = value
    item.first_revenue_day = chunk.first_revenue_days.get(token_id)
    item.index(since=since)
    return item


# --- Rows (any database) -------------------------------------------------------------------


CapDays = tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]


def _snapshot_rows(ids: list[int], start: dt.date, end: dt.date) -> Iterable[tuple]:
    return (
        MetricSnapshot.objects.filter(token_id__in=ids, date__range=(start, end))
        .order_by()
        .values_list("token_id", "date", *SNAPSHOT_INPUTS)
    )


def _burns(ids: list[int], end: dt.date) -> dict[int, Burns]:
    """The tokens' burns up to ``end``, totalled exactly, with their max supplies (one query)."""
    burns: dict[int, Burns] = {}
    total = Decimal(0)
    for token_id, day, amount, max_supply in (
        AccrualEvent.objects.filter(
            token_id__in=ids, kind=AccrualEvent.Kind.BURN, token_amount__isnull=False, date__lte=end
        )
        .order_by("token_id", "date")
        .values_list("token_id", "date", "token_amount", "token__max_supply")
    ):
        item = burns.get(token_id)
        if item is None:
            item = burns[token_id] = Burns([], [], float(max_supply) if max_supply is not None else None)
            total = Decimal(0)
        total += amount
        if item.days and item.days[-1] == day:
            item.totals[-1] = float(total)
        else:
            item.days.append(day)
            item.totals.append(float(total))
    return burns


def _first_revenue_rows(ids: list[int], end: dt.date) -> Iterable[tuple[int, dt.date]]:
    # One index probe a token for its first revenue day, rather than a scan of its history.
    first_day = RevenueDay.objects.filter(token=OuterRef("pk"), date__lte=end, revenue_usd__isnull=False)
    return (
        Token.objects.filter(pk__in=ids)
        .annotate(first=Subquery(first_day.order_by("date").values("date")[:1]))
        .filter(first__isnull=False)
        .values_list("pk", "first")
    )


def _price_rows(
    ids: list[int], origin: dt.date, since: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> tuple[Series, Series, Series]:
    (early_from, early_to), (late_from, late_to) = cap_days
    as_float = FloatField()
    lists: tuple[list, ...] = tuple([] for _ in range(9))
    for token_id, day, price, cap, volume in (
        PriceDay.objects.filter(token_id__in=ids, date__range=(since, end))
        .order_by("token_id", "date")
        .values_list(
            "token_id",
            "date",
            Cast("price_usd", as_float),
            Cast("market_cap_usd", as_float),
            Cast("volume_usd", as_float),
        )
    ):
        offset = (day - origin).days
        for first, value, wanted in (
            (0, price, True),
            (3, cap, early_from <= day <= early_to or late_from <= day <= late_to),
            (6, volume, day >= volume_from),
        ):
            if wanted and value is not None:
                lists[first].append(token_id)
                lists[first + 1].append(offset)
                lists[first + 2].append(value)
    return tuple(_series(*lists[first : first + 3]) for first in (0, 3, 6))


def _revenue_rows(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Series:
    tokens, offsets, amounts = [], [], []
    for token_id, day, amount in (
        RevenueDay.objects.filter(token_id__in=ids, date__range=(since, end), revenue_usd__isnull=False)
        .order_by("token_id", "date")
        .values_list("token_id", "date", Cast("revenue_usd", FloatField()))
    ):
        tokens.append(token_id)
        offsets.append((day - origin).days)
        amounts.append(amount)
    return _series(tokens, offsets, amounts)


def _series(tokens: list[int], offsets: list[int], values: list[float]) -> Series:
    return np.array(tokens, dtype=np.int64), np.array(offsets, dtype=np.intp), np.array(values, dtype=float)


# --- Arrays (PostgreSQL) -------------------------------------------------------------------

# A chunk's series come back as flat arrays for all its tokens at once: token ids and day
# offsets (int8) and values (float8), aggregating the same rows in the same order, NULLs
# left out of all three (FILTER). No GROUP BY: one row per query, whatever the
# number of tokens. They arrive in PostgreSQL's binary array format, read straight into
# NumPy (``_ArrayBytes``), so no Python object is made a figure.
_SERIES = (
    "array_agg(token_id::int8) FILTER (WHERE {column} IS NOT NULL{also}), "
    "array_agg((date - %(origin)s)::int8) FILTER (WHERE {column} IS NOT NULL{also}), "
    "array_agg({column}::float8) FILTER (WHERE {column} IS NOT NULL{also})"
)
# A one-dimensional array without NULLs: a 20-byte header (dimensions, NULL flag, element
# type, length, lower bound), then each element as its byte length and its big-endian value.
_ARRAY_HEADER = 20
_INT8_ELEMENTS = np.dtype([("size", ">i4"), ("value", ">i8")])
_FLOAT8_ELEMENTS = np.dtype([("size", ">i4"), ("value", ">f8")])


def _series_sql(column: str, also: str = "") -> str:
    return _SERIES.format(column=column, also=f" AND ({also})" if also else "")


def _unpacked(tokens: bytes | None, offsets: bytes | None, values: bytes | None) -> Series:
    if tokens is None:  # no row passed the filter
        return _series([], [], [])
    for array in (tokens, offsets, values):
        dimensions, has_null = np.frombuffer(array, dtype=">i4", count=2)
        if dimensions != 1 or has_null:
            raise ValueError("a series must be a one-dimensional array without NULLs")
    return (
        np.frombuffer(tokens, dtype=_INT8_ELEMENTS, offset=_ARRAY_HEADER)["value"].astype(np.int64),
        np.frombuffer(offsets, dtype=_INT8_ELEMENTS, offset=_ARRAY_HEADER)["value"].astype(np.intp),
        np.frombuffer(values, dtype=_FLOAT8_ELEMENTS, offset=_ARRAY_HEADER)["value"].astype(float),
    )


def _price_arrays(
    ids: list[int], origin: dt.date, since: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> tuple[Series, Series, Series]:
    """Prices, and market caps and volumes only on the days their windows read."""
    cap_days_sql = "date BETWEEN %(cap_a)s AND %(cap_b)s OR date BETWEEN %(cap_c)s AND %(cap_d)s"
    sql = f"""
        SELECT {_series_sql("price_usd")},
               {_series_sql("market_cap_usd", cap_days_sql)},
               {_series_sql("volume_usd", "date >= %(volume_from)s")}
        FROM {PriceDay._meta.db_table}
        WHERE token_id = ANY(%(ids)s) AND date BETWEEN %(since)s AND %(end)s
    """
    (cap_a, cap_b), (cap_c, cap_d) = cap_days
    params = {
        "ids": ids,
        "origin": origin,
        "since": since,
        "end": end,
        "cap_a": cap_a,
        "cap_b": cap_b,
        "cap_c": cap_c,
        "cap_d": cap_d,
        "volume_from": volume_from,
    }
    (packed,) = _binary_rows(sql, params)
    return _unpacked(*packed[0:3]), _unpacked(*packed[3:6]), _unpacked(*packed[6:9])


def _revenue_arrays(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Series:
    sql = f"""
        SELECT {_series_sql("revenue_usd")}
        FROM {RevenueDay._meta.db_table}
        WHERE token_id = ANY(%(ids)s) AND date BETWEEN %(since)s AND %(end)s AND revenue_usd IS NOT NULL
    """
    ((tokens, offsets, values),) = _binary_rows(sql, {"ids": ids, "origin": origin, "since": since, "end": end})
    return _unpacked(tokens, offsets, values)


class _ArrayBytes(Loader):
    """A binary array as its bytes, for NumPy to read."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


_ARRAY_OIDS = (postgres.types["int8"].array_oid, postgres.types["float8"].array_oid)


def _binary_rows(sql: str, params: dict) -> list[tuple]:
    """Rows in PostgreSQL's binary format: the floats arrive without being printed and
    parsed. Django's cursors bind parameters client-side, which rules binary results out,
    so this one is psycopg's own, on Django's connection (and logged as Django would)."""
    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        for oid in _ARRAY_OIDS:
            cursor.adapters.register_loader(oid, _ArrayBytes)
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": " ".join(sql.split()), "time": f"{time.monotonic() - started:.3f}"})
    return rows
