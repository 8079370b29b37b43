"""Loading: a chunk's series become the inputs the one-token definition gives, including
for a token whose history holds a NaN or infinite figure (computed apart)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from apps.ratings import history, loading
from apps.ratings.methodology import METHODOLOGY
from apps.tokens.models import PriceDay, RevenueDay
from apps.tokens.snapshots import snapshots_recompute
from tests.factories import TokenFactory

from .builders import add_history

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


def test_binary_arrays_carry_token_ids_and_day_offsets_apart():
    """Token ids and day offsets come in arrays of their own: no packing to overflow into
    a neighbour's id, whatever the offset."""
    arrays = (
        np.array([123_456, 7], dtype=">i8"),
        np.array([200, 2_000_000], dtype=">i8"),
        np.array([1.5, -2.0], dtype=">f8"),
    )

    def packed(array: np.ndarray) -> bytes:
        header = np.array([1, 0, 0, len(array), 1], dtype=">i4").tobytes()
        elements = np.empty(len(array), dtype=[("size", ">i4"), ("value", array.dtype)])
        elements["size"], elements["value"] = array.dtype.itemsize, array
        return header + elements.tobytes()

    tokens, offsets, got = loading._unpacked(*map(packed, arrays))
    assert tokens.tolist() == [123_456, 7]
    assert offsets.tolist() == [200, 2_000_000]
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


@pytest.mark.django_db
@pytest.mark.parametrize("arrays", [True, False], ids=["arrays", "rows"])
def test_a_window_reaching_before_the_price_lookback_reads_only_each_tokens_own_history(monkeypatch, arrays):
    """A revenue window longer than the price lookback makes the loader read revenue dated
    before the prices' first day. Two tokens with adjacent ids and different revenue: each
    one's inputs are those of its own history alone, by the definition (both ways of reading)."""
    if arrays and not loading.arrays_supported():
        pytest.skip("binary arrays are PostgreSQL's")
    monkeypatch.setattr(loading, "arrays_supported", lambda: arrays)
    reach = loading.PRICE_LOOKBACK_DAYS + 60
    longer = replace(METHODOLOGY.input("revenue_consistency_90d"), window_days=reach, min_days=10)
    monkeypatch.setitem(METHODOLOGY._inputs_by_key, "revenue_consistency_90d", longer)
    monkeypatch.setattr(loading, "REVENUE_LOOKBACK_DAYS", reach + history.REVENUE_MAX_LAG_DAYS)
    first, second = TokenFactory(), TokenFactory()
    assert second.pk == first.pk + 1
    days = reach + 20
    add_history(first, days=days, daily_revenue=10_000.0, seed=1)
    add_history(second, days=days, daily_revenue=3_000_000.0, seed=7)
    snapshots_recompute(token_ids=[first.pk, second.pk], since=END, until=END)

    loaded = loading.load_inputs([(first.pk, "dex"), (second.pk, "dex")], END, END, chunk_size=10)[END]

    assert [inputs.token_id for inputs in loaded] == [first.pk, second.pk]
    for inputs in loaded:
        alone = own_history(inputs.token_id, END - dt.timedelta(days=days - 1), END)
        want = {**history.price_inputs(alone, END), **history.revenue_inputs(alone, END)}
        assert want["revenue_consistency_90d"] is not None
        assert {key: inputs.values[key] for key in want} == {key: history.canonical(v) for key, v in want.items()}


def own_history(token_id: int, origin: dt.date, end: dt.date) -> history.TokenHistory:
    """One token's whole stored history as the definition reads it."""
    span = (end - origin).days + 1
    item = history.TokenHistory(origin, [None] * span, [None] * span, [None] * span, [None] * span)
    for day, price, cap, volume in PriceDay.objects.filter(token_id=token_id).values_list(
        "date", "price_usd", "market_cap_usd", "volume_usd"
    ):
        k = (day - origin).days
        item.prices[k], item.market_caps[k], item.volumes[k] = float(price), float(cap), float(volume)
    revenue = RevenueDay.objects.filter(token_id=token_id).order_by("date").values_list("date", "revenue_usd")
    for day, amount in revenue:
        item.revenue[(day - origin).days] = float(amount)
    item.first_revenue_day = revenue[0][0]
    item.index()
    return item
