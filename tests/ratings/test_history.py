"""Inputs from daily history: hand-computed cases, minimum data, and no look-ahead."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ratings.history import (
    SeriesBlock,
    TokenHistory,
    block_price_inputs,
    block_revenue_inputs,
    canonical,
    price_inputs,
    revenue_inputs,
)

ORIGIN = dt.date(2026, 1, 1)


def history(prices, caps=None, volumes=None, revenue=None, first_revenue_day=None) -> TokenHistory:
    n = len(prices)
    item = TokenHistory(
        ORIGIN,
        list(prices),
        list(caps) if caps is not None else [None] * n,
        list(volumes) if volumes is not None else [None] * n,
        list(revenue) if revenue is not None else [None] * n,
        first_revenue_day,
    )
    item.index()
    return item


def day(index: int) -> dt.date:
    return ORIGIN + dt.timedelta(days=index)


def test_a_flat_price_has_no_return_no_volatility_no_drawdown():
    item = history([10.0] * 200, caps=[1000.0] * 200, volumes=[50.0] * 200)
    inputs = price_inputs(item, day(199))
    assert inputs == {
        "return_30d": 0.0,
        "return_90d": 0.0,
        "trend_50d": 0.0,
        "volatility_90d": 0.0,
        "max_drawdown_180d": 0.0,
        "liquidity_30d": 0.05,  # 50 ÷ 1000
        "supply_growth_90d": 0.0,
    }


def test_a_rising_price_golden():
    """Price on index n is n + 1; rated on index 199 (price 200).
    7-day average now: prices 194…200 → 197; 30 days before (index 169): 164…170 → 167;
    90 days before (index 109): 104…110 → 107; 50-day average: 151…200 → 175.5.
    Daily returns are 1/n for n = 110…199. Volume 100 against a cap of price × 1000."""
    prices = [float(n + 1) for n in range(200)]
    item = history(prices, caps=[p * 1000 for p in prices], volumes=[100.0] * 200)
    inputs = price_inputs(item, day(199))
    assert inputs["return_30d"] == pytest.approx(197 / 167 - 1)
    assert inputs["return_90d"] == pytest.approx(197 / 107 - 1)
    assert inputs["trend_50d"] == pytest.approx(197 / 175.5 - 1)
    assert inputs["volatility_90d"] == pytest.approx(statistics.stdev(1 / n for n in range(110, 200)))
    assert inputs["max_drawdown_180d"] == 0.0
    assert inputs["liquidity_30d"] == pytest.approx(100 / 200_000)
    assert inputs["supply_growth_90d"] == pytest.approx(0.0)


def test_drawdown_and_dilution_golden():
    """Up from 100 to a peak of 200 in 90 days, then down to 150: the worst fall from the
    running peak is 150 ÷ 200 − 1 = −25 %. Supply 1,000 until 90 days ago, 1,100 since: +10 %."""
    up = [100 + 100 * n / 89 for n in range(90)]
    down = [200 - 50 * n / 89 for n in range(1, 90)] + [150.0]
    prices = up + down
    supply = [1000.0] * 90 + [1100.0] * 90
    item = history(prices, caps=[p * s for p, s in zip(prices, supply, strict=True)])
    inputs = price_inputs(item, day(179))
    assert inputs["max_drawdown_180d"] == pytest.approx(-0.25)
    assert inputs["supply_growth_90d"] == pytest.approx(0.1)


def test_windows_short_of_data_leave_inputs_missing():
    item = history([10.0] * 80, caps=[1000.0] * 80, volumes=[1.0] * 80)
    inputs = price_inputs(item, day(79))
    assert inputs["return_30d"] == 0.0 and inputs["trend_50d"] == 0.0  # 50 days are there
    assert inputs["return_90d"] is None  # no price 90 days back
    assert inputs["volatility_90d"] is None  # 79 daily returns, 81 needed
    assert inputs["max_drawdown_180d"] is None  # 80 prices, 162 needed
    assert inputs["supply_growth_90d"] is None
    assert price_inputs(history([10.0] * 82), day(81))["volatility_90d"] == 0.0  # 81 returns: enough


def test_no_price_on_the_day_means_no_price_inputs():
    prices = [10.0] * 199 + [None]
    assert set(price_inputs(history(prices), day(199)).values()) == {None}


def test_revenue_consistency_golden():
    """Revenue alternates 1 and 3 for 90 days: mean 2, sample standard deviation
    √(90 ÷ 89); consistency = 1 − √(90/89) ÷ 2 ≈ 0.4972. The newest revenue day is two
    days before the rating day (DefiLlama lags): the window ends there."""
    revenue = [None] * 10 + [1.0 if n % 2 else 3.0 for n in range(90)] + [None, None]
    item = history([1.0] * 102, revenue=revenue, first_revenue_day=day(10))
    inputs = revenue_inputs(item, day(101))
    assert inputs["revenue_consistency_90d"] == pytest.approx(1 - math.sqrt(90 / 89) / 2)
    assert inputs["revenue_history_days"] == 92.0  # day 10 to day 101 inclusive


def test_revenue_older_than_a_week_is_not_used():
    revenue = [2.0] * 90 + [None] * 8
    item = history([1.0] * 98, revenue=revenue, first_revenue_day=day(0))
    assert revenue_inputs(item, day(97))["revenue_consistency_90d"] is None
    assert revenue_inputs(item, day(96))["revenue_consistency_90d"] == 1.0  # seven days back: still used


def test_revenue_history_before_the_first_revenue_day_is_none():
    item = history([1.0] * 30, first_revenue_day=day(20))
    assert revenue_inputs(item, day(10))["revenue_history_days"] is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (0.0, "0"),
        (-0.0, "0"),
        (0.123456789, "0.123457"),
        (1.23456789e-7, "0.000000123457"),
        (12345678.9, "12345700"),
        (float("inf"), None),
        (Decimal("2500000000.0000"), "2500000000"),
        (Decimal("0.0438000000"), "0.0438"),
        (Decimal("0E-10"), "0"),
        ("0.0438000000", "0.0438"),  # a database's exact text
        ("2500000000.0000", "2500000000"),
        ("-0.1200", "-0.12"),
        ("0.0000000000", "0"),
        ("120", "120"),
    ],
)
def test_inputs_are_stored_as_plain_decimal_strings(value, text):
    assert canonical(value) == text


price = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6, allow_nan=False))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(price, min_size=200, max_size=260),
    st.lists(price, min_size=200, max_size=260),
    st.integers(min_value=0, max_value=199),
)
def test_inputs_as_of_a_day_never_read_data_after_it(prices, other, k):
    """Whatever comes after day k — other prices, volumes, revenue, or nothing — the inputs
    of day k are the same."""
    n = len(prices)
    later = (other + [None] * n)[: n - k - 1]
    past = prices[: k + 1]
    a = history(past + later, caps=past + later, volumes=past + later, revenue=past + later, first_revenue_day=ORIGIN)
    b = history(
        past + [None] * (n - k - 1),
        caps=past + [None] * (n - k - 1),
        volumes=past + [None] * (n - k - 1),
        revenue=past + [None] * (n - k - 1),
        first_revenue_day=ORIGIN,
    )
    c = history(past, caps=past, volumes=past, revenue=past, first_revenue_day=ORIGIN)
    for item in (b, c):
        assert price_inputs(a, day(k)) == price_inputs(item, day(k))
        assert revenue_inputs(a, day(k)) == revenue_inputs(item, day(k))


def as_array(series: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in series], dtype=float)


# Gaps, zeros and negative figures as well as ordinary ones; the steady runs reach every window.
figure = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(min_value=-5.0, max_value=-0.01),
    st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
)
series = st.lists(figure, min_size=1, max_size=230).flatmap(
    lambda head: st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=0, max_size=200).map(lambda run: head + run)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(series, series, series, series, st.none() | st.integers(0, 300)), min_size=1, max_size=4),
    st.data(),
)
def test_a_block_of_tokens_gives_exactly_the_inputs_of_each_token_alone(tokens, data):
    """The vectorised block computation agrees bit for bit with the one-token definition."""
    span = max(max(len(s) for s in token[:4]) for token in tokens)

    def padded(values: list) -> list:
        return (values + [None] * span)[:span]

    alone = []
    for prices, caps, volumes, revenue, first in tokens:
        first_day = None if first is None else day(first)
        alone.append(history(padded(prices), padded(caps), padded(volumes), padded(revenue), first_day))
    block = SeriesBlock(
        ORIGIN,
        np.array([as_array(item.prices) for item in alone]),
        np.array([as_array(item.market_caps) for item in alone]),
        np.array([as_array(item.volumes) for item in alone]),
        np.array([as_array(item.revenue) for item in alone]),
        [item.first_revenue_day for item in alone],
    )
    for k in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=5)):
        prices = block_price_inputs(block, k)
        revenue = block_revenue_inputs(block, k)
        for row, item in enumerate(alone):
            want = {**price_inputs(item, day(k)), **revenue_inputs(item, day(k))}
            got = {key: values[row] for key, values in {**prices, **revenue}.items()}
            assert list(got) == list(want)
            # repr tells 0.0 from -0.0 and compares floats bit for bit
            assert repr(got) == repr(want)
