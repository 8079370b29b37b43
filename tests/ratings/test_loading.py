"""Loading: a chunk's series become the inputs the one-token definition gives, including
for a token whose history holds a NaN or infinite figure (computed apart)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import numpy as np

from apps.ratings import history, loading
from apps.ratings.scoring import METHODOLOGY

START = dt.date(2026, 6, 28)
END = dt.date(2026, 6, 30)
ORIGIN = START - dt.timedelta(days=loading.PRICE_LOOKBACK_DAYS)
SPAN = (END - ORIGIN).days + 1


def series(by_token: dict[int, list[float | None]]) -> loading.Series:
    """Flat arrays, as the loaders return them, of the days that have a value."""
    rows = [(token_id, offset, value) for token_id, values in by_token.items() for offset, value in enumerate(values)]
    rows = [row for row in rows if row[2] is not None]
    return loading._series(*(list(column) for column in zip(*rows, strict=True)))


def walk(seed: int, gaps: bool) -> list[float | None]:
    values = [10.0 + seed + 3 * math.sin(n * 0.3 + seed) for n in range(SPAN)]
    if gaps:
        for n in range(5, SPAN, 17):
            values[n] = None
    return values


def test_a_chunk_gives_each_token_the_inputs_of_the_definition():
    prices = {1: walk(1, gaps=False), 2: walk(2, gaps=True), 3: walk(3, gaps=False)}
    prices[3][150] = math.nan  # a NaN price (NUMERIC can hold one): token 3 is computed alone
    caps = {t: [None if p is None else p * 1e6 for p in values] for t, values in prices.items()}
    volumes = {t: [None if p is None else p * 1e4 for p in values] for t, values in prices.items()}
    revenue = {1: [100.0 + n % 3 for n in range(SPAN)], 3: [None] * 100 + [math.inf] + [5.0] * (SPAN - 101)}
    first_days = {1: ORIGIN, 3: ORIGIN + dt.timedelta(days=101)}
    figures = (None,) * len(loading.SNAPSHOT_INPUTS)
    chunk = loading._Chunk(
        tokens=[(1, "lending"), (2, "dex"), (3, "dex")],
        snapshots={t: [(day, *figures) for day in (START, END)] for t in (1, 2, 3)},
        prices=(series(prices), series(caps), series(volumes)),
        revenue=series(revenue),
        first_revenue_days=first_days,
    )
    by_day = defaultdict(list)

    loading._build(chunk, START, END, by_day)

    for day in (START, END):
        for inputs in by_day[day]:
            t = inputs.token_id
            alone = history.TokenHistory(
                ORIGIN,
                prices[t],
                caps[t],
                volumes[t],
                revenue.get(t, [None] * SPAN),
                first_days.get(t),
            )
            alone.index()
            want = {**history.price_inputs(alone, day), **history.revenue_inputs(alone, day)}
            assert {key: inputs.values[key] for key in want} == {
                key: history.canonical(value) for key, value in want.items()
            }
    assert [i.token_id for i in by_day[END]] == [1, 2, 3]


def test_keys_carry_the_token_and_the_day_offset():
    keys = np.array([(123_456 << loading._KEY_BITS) + 200, (7 << loading._KEY_BITS) + 0], dtype=">i8")
    values = np.array([1.5, -2.0], dtype=">f8")

    def packed(array: np.ndarray) -> bytes:
        header = np.array([1, 0, 0, len(array), 1], dtype=">i4").tobytes()
        sizes = np.full(len(array), array.dtype.itemsize, dtype=">i4")
        elements = np.empty(len(array), dtype=[("size", ">i4"), ("value", array.dtype)])
        elements["size"], elements["value"] = sizes, array
        return header + elements.tobytes()

    tokens, offsets, got = loading._unpacked(packed(keys), packed(values))
    assert tokens.tolist() == [123_456, 7]
    assert offsets.tolist() == [200, 0]
    assert got.tolist() == [1.5, -2.0]


def test_every_input_is_loaded_from_exactly_one_place():
    """The day's snapshot, the price and revenue history, or the burns (burned share)."""
    places = [*loading.SNAPSHOT_INPUTS, *loading.DERIVED_INPUTS, "burned_share"]
    assert sorted(places) == sorted(METHODOLOGY.input_keys)
    assert [i.key for i in METHODOLOGY.inputs if i.source == "burns"] == ["burned_share"]


def test_chunks_fetched_ahead_come_back_in_order_without_deadlock(monkeypatch):
    """A fetch thread that runs ahead must not take the turn of the chunk the consumer is
    waiting for (a shared semaphore let it: the suite hung there now and then)."""
    import threading
    import time

    def fetch(chunk, start, end):
        index = chunk[0][0]
        if index % 2 == 0:
            time.sleep(0.02)  # the even chunks' thread lags behind the odd chunks' one
        return index

    monkeypatch.setattr(loading, "prefetch_possible", lambda: True)
    monkeypatch.setattr(loading, "_fetch", fetch)
    chunks = [[(index, "x")] for index in range(40)]
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(loading._fetched(chunks, None, None)), daemon=True)

    consumer.start()
    consumer.join(timeout=20)

    assert not consumer.is_alive(), f"stuck after {len(got)} of {len(chunks)} chunks"
    assert got == list(range(40))
