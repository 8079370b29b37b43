"""Loading a block of days' rating inputs: the day's snapshot figures, and the daily
price and revenue history behind the inputs that snapshots do not hold.

Four queries per chunk of tokens, whatever the number of days. Only the history the
windows need is read, and nothing dated after the block's last day. On PostgreSQL each
token's history comes back as packed binary floats (one row a token instead of one row a
day, and no Python object a figure): a day of 20,000 tokens reads 3.6 million prices.
Elsewhere (SQLite) plain rows give the same series. A chunk's series become NumPy arrays
(one row a token) and ``history.block_price_inputs`` computes each day for all of them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import psycopg
from django.db import connection, connections
from django.db.models import FloatField, OuterRef, Subquery, TextField
from django.db.models.functions import Cast
from psycopg import postgres
from psycopg.adapt import Loader
from psycopg.pq import Format

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

# A series: day offsets from the block's origin and the values on them (only the days with
# a value), as aligned NumPy arrays.
Series = tuple[np.ndarray, np.ndarray]
# A token's price history: (token id, prices, market caps, volumes).
PriceSeries = tuple[int, Series, Series, Series]
RevenueSeries = tuple[int, Series]
DERIVED_INPUTS = (*history.PRICE_INPUTS, "revenue_history_days", "revenue_consistency_90d")


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
    rows = {pk: row for row, pk in enumerate(chunk.snapshots)}
    shape = (len(rows), span)
    prices, caps, volumes, revenue = (np.full(shape, np.nan) for _ in range(4))
    # A NaN or infinite figure would pass for a missing one in the arrays: such a token
    # (none in practice) is computed alone, by the definition.
    odd: dict[int, history.TokenHistory] = {}
    for token_id, *series in chunk.prices:
        if all(np.isfinite(values).all() for _, values in series):
            row = rows[token_id]
            for target, (offsets, values) in zip((prices, caps, volumes), series, strict=True):
                target[row, offsets] = values
        else:
            odd[token_id] = item = _token_history(origin, span)
            for target, (offsets, values) in zip((item.prices, item.market_caps, item.volumes), series, strict=True):
                _fill(target, offsets, values)
    for token_id, (offsets, values) in chunk.revenue:
        if token_id not in odd and np.isfinite(values).all():
            revenue[rows[token_id], offsets] = values
        else:
            item = odd.get(token_id)
            if item is None:
                odd[token_id] = item = _token_history(origin, span)
                row = rows[token_id]
                for target, source in zip(
                    (item.prices, item.market_caps, item.volumes), (prices, caps, volumes), strict=True
                ):
                    target[:] = [None if v != v else v for v in source[row].tolist()]
            _fill(item.revenue, offsets, values)
    for token_id, item in odd.items():
        item.first_revenue_day = chunk.first_revenue_days.get(token_id)
        item.index(since=max((start - origin).days - RETURNS_LOOKBACK_DAYS, 0))
    block = history.SeriesBlock(
        origin, prices, caps, volumes, revenue, [chunk.first_revenue_days.get(pk) for pk in rows]
    )
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
        for day, *figures in token_rows:
            # Always in the same order (snapshot, price, revenue inputs): a rating's digest reads them in it.
            values = dict(zip(SNAPSHOT_INPUTS, map(canonical, figures), strict=True))
            if item is None:
                values.update(zip(DERIVED_INPUTS, derived[day][row], strict=True))
            else:
                computed = {**history.price_inputs(item, day), **history.revenue_inputs(item, day)}
                values.update((key, canonical(computed[key])) for key in DERIVED_INPUTS)
            by_day[day].append(TokenInputs(token_id, category, values))


def _token_history(origin: dt.date, span: int) -> history.TokenHistory:
    return history.TokenHistory(origin, [None] * span, [None] * span, [None] * span, [None] * span)


def _fill(series: list, offsets: np.ndarray, values: np.ndarray) -> None:
    for offset, value in zip(offsets.tolist(), values.tolist(), strict=True):
        series[offset] = value


# --- Rows (any database) -------------------------------------------------------------------


CapDays = tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]


def _price_rows(
    ids: list[int], origin: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> Iterator[PriceSeries]:
    (early_from, early_to), (late_from, late_to) = cap_days
    as_float = FloatField()
    series: dict[int, tuple[list, list, list, list, list, list]] = {}
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
        lists = series.setdefault(token_id, ([], [], [], [], [], []))
        offset = (day - origin).days
        for (offsets, values), value, wanted in (
            (lists[0:2], price, True),
            (lists[2:4], cap, early_from <= day <= early_to or late_from <= day <= late_to),
            (lists[4:6], volume, day >= volume_from),
        ):
            if wanted and value is not None:
                offsets.append(offset)
                values.append(value)
    for token_id, lists in series.items():
        yield (token_id, *(_series(lists[n], lists[n + 1]) for n in (0, 2, 4)))


def _revenue_rows(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Iterator[RevenueSeries]:
    series: dict[int, tuple[list, list]] = {}
    for token_id, day, amount in (
        RevenueDay.objects.filter(token_id__in=ids, date__range=(since, end), revenue_usd__isnull=False)
        .order_by("token_id", "date")
        .values_list("token_id", "date", Cast("revenue_usd", FloatField()))
    ):
        offsets, amounts = series.setdefault(token_id, ([], []))
        offsets.append((day - origin).days)
        amounts.append(amount)
    for token_id, (offsets, amounts) in series.items():
        yield token_id, _series(offsets, amounts)


def _series(offsets: list[int], values: list[float]) -> Series:
    return np.array(offsets, dtype=np.intp), np.array(values, dtype=float)


# --- Arrays (PostgreSQL) -------------------------------------------------------------------

# Each series of a token is two arrays, its day offsets (int4) and its values (float8), that
# aggregate the same rows in the same order, NULLs left out of both (FILTER): a value always
# sits beside its day. They arrive in PostgreSQL's binary array format, read straight into
# NumPy (``_ArrayBytes``), so no Python object is made a figure.
_SERIES = (
    "array_agg(date - %(origin)s) FILTER (WHERE {column} IS NOT NULL{also}), "
    "array_agg({column}::float8) FILTER (WHERE {column} IS NOT NULL{also})"
)
# A one-dimensional array without NULLs: a 20-byte header (dimensions, NULL flag, element
# type, length, lower bound), then each element as its byte length and its big-endian value.
_ARRAY_HEADER = 20
_INT4_ELEMENTS = np.dtype([("size", ">i4"), ("value", ">i4")])
_FLOAT8_ELEMENTS = np.dtype([("size", ">i4"), ("value", ">f8")])
_EMPTY: Series = (np.empty(0, dtype=np.intp), np.empty(0, dtype=float))


def _series_sql(column: str, also: str = "") -> str:
    return _SERIES.format(column=column, also=f" AND ({also})" if also else "")


def _unpacked(offsets: bytes | None, values: bytes | None) -> Series:
    if offsets is None:  # no row passed the filter
        return _EMPTY
    for array in (offsets, values):
        dimensions, has_null = np.frombuffer(array, dtype=">i4", count=2)
        if dimensions != 1 or has_null:
            raise ValueError("a series must be a one-dimensional array without NULLs")
    return (
        np.frombuffer(offsets, dtype=_INT4_ELEMENTS, offset=_ARRAY_HEADER)["value"].astype(np.intp),
        np.frombuffer(values, dtype=_FLOAT8_ELEMENTS, offset=_ARRAY_HEADER)["value"].astype(float),
    )


def _price_arrays(
    ids: list[int], origin: dt.date, end: dt.date, *, cap_days: CapDays, volume_from: dt.date
) -> Iterator[PriceSeries]:
    """One row a token. No ORDER BY (a sort per token would cost more than the rest of the
    query): the aggregates of a group read the same rows in the same order, so each value
    sits beside its day's offset. Market cap and volume are converted only on the days
    their windows read."""
    cap_days_sql = "date BETWEEN %(cap_a)s AND %(cap_b)s OR date BETWEEN %(cap_c)s AND %(cap_d)s"
    sql = f"""
        SELECT token_id,
               {_series_sql("price_usd")},
               {_series_sql("market_cap_usd", cap_days_sql)},
               {_series_sql("volume_usd", "date >= %(volume_from)s")}
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
    for token_id, *packed in _binary_rows(sql, params):
        yield token_id, _unpacked(*packed[0:2]), _unpacked(*packed[2:4]), _unpacked(*packed[4:6])


def _revenue_arrays(ids: list[int], origin: dt.date, since: dt.date, end: dt.date) -> Iterator[RevenueSeries]:
    sql = f"""
        SELECT token_id, {_series_sql("revenue_usd")}
        FROM {RevenueDay._meta.db_table}
        WHERE token_id = ANY(%(ids)s) AND date BETWEEN %(since)s AND %(end)s AND revenue_usd IS NOT NULL
        GROUP BY token_id
    """
    for token_id, offsets, values in _binary_rows(sql, {"ids": ids, "origin": origin, "since": since, "end": end}):
        yield token_id, _unpacked(offsets, values)


class _ArrayBytes(Loader):
    """A binary array as its bytes, for NumPy to read."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


_ARRAY_OIDS = (postgres.types["int4"].array_oid, postgres.types["float8"].array_oid)


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
