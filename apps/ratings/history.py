"""Inputs derived from daily history: returns, trend, volatility, drawdown, liquidity,
supply growth, revenue consistency and history length. Pure: plain lists in, numbers out.

A series is dense: index 0 is ``origin``, each next index the next day, and a day
without data holds None. Every window ends on the rating's day and only looks back, so
data after that day can be present in the series and is never read.

Sums use ``math.fsum`` (exactly rounded): a window gives the same figure whatever the
series' origin, so one day recomputed alone matches the same day in a long backfill.

``price_inputs`` and ``revenue_inputs`` define the inputs, one token-day at a time.
``block_price_inputs`` and ``block_revenue_inputs`` compute the same for a block of tokens (NumPy,
one row a token): every step is the same IEEE operation on the same floats — products,
quotients, maxima, minima and square roots are exactly rounded, and each sum is still a
``math.fsum`` of the same window — so the figures agree bit for bit (property-tested).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from operator import mul, truediv

import numpy as np

from apps.tokens.snapshots import REVENUE_MAX_LAG_DAYS  # revenue windows end as the snapshots' do

from .methodology import METHODOLOGY, Methodology

SIGNIFICANT_DIGITS = 6


@dataclass(slots=True)
class TokenHistory:
    origin: dt.date
    prices: list[float | None]
    market_caps: list[float | None]
    volumes: list[float | None]
    revenue: list[float | None]
    first_revenue_day: dt.date | None = None
    returns: list[float | None] = field(default_factory=list)

    def index(self, since: int = 0) -> None:
        """Daily returns from index ``since`` on (earlier ones are not needed): return j is
        price j over price j − 1."""
        prices = self.prices
        start = max(since, 1)
        self.returns = [None] * start + [
            (now / before - 1) if now is not None and before else None
            for before, now in zip(prices[start - 1 :], prices[start:], strict=False)
        ]


def _window(values: list, end: int, days: int) -> list:
    """The present values of the ``days`` days ending at index ``end`` (inclusive)."""
    if end < 0:
        return []
    return [v for v in values[max(end - days + 1, 0) : end + 1] if v is not None]


def _at(values: list, index: int) -> float | None:
    return values[index] if 0 <= index < len(values) else None


def _change(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then <= 0:
        return None
    return now / then - 1


def _stdev(values: list[float]) -> float:
    """Sample standard deviation from exactly rounded sums (order-independent)."""
    n = len(values)
    mean = math.fsum(values) / n
    return math.sqrt(max(math.fsum(map(mul, values, values)) - n * mean * mean, 0.0) / (n - 1))


def _average(values: list, end: int, days: int, min_days: int) -> float | None:
    window = _window(values, end, days)
    return math.fsum(window) / len(window) if window and len(window) >= min_days else None


PRICE_INPUTS = (
    "return_30d",
    "return_90d",
    "trend_50d",
    "volatility_90d",
    "max_drawdown_180d",
    "liquidity_30d",
    "supply_growth_90d",
)


def price_inputs(history: TokenHistory, day: dt.date, m: Methodology = METHODOLOGY) -> dict[str, float | None]:
    """Momentum, risk and dilution inputs on ``day``; each None when its window is short."""
    k = (day - history.origin).days
    price = _at(history.prices, k)
    out: dict[str, float | None] = dict.fromkeys(PRICE_INPUTS)
    if price is None or price <= 0:
        return out
    prices = history.prices
    smooth, smooth_min = m.price_average_days, m.price_average_min_days
    average_now = _average(prices, k, smooth, smooth_min)
    for key in ("return_30d", "return_90d"):
        then = k - m.input(key).window_days
        out[key] = _change(average_now, _average(prices, then, smooth, smooth_min))
    trend = m.input("trend_50d")
    out["trend_50d"] = _change(average_now, _average(prices, k, trend.window_days, trend.min_days))

    volatility = m.input("volatility_90d")
    window = _window(history.returns, k, volatility.window_days)
    if len(window) >= max(volatility.min_days, 2):
        out["volatility_90d"] = _stdev(window)

    drawdown = m.input("max_drawdown_180d")
    window = [p for p in _window(prices, k, drawdown.window_days) if p > 0]
    if len(window) >= drawdown.min_days:
        out["max_drawdown_180d"] = min(map(truediv, window, accumulate(window, max))) - 1

    market_cap = _at(history.market_caps, k)
    liquidity = m.input("liquidity_30d")
    volume = _average(history.volumes, k, liquidity.window_days, liquidity.min_days)
    if market_cap and market_cap > 0 and volume is not None:
        out["liquidity_30d"] = volume / market_cap

    supply_days = m.input("supply_growth_90d").window_days
    before_price = _at(prices, k - supply_days)
    before_cap = _at(history.market_caps, k - supply_days)
    if market_cap and before_cap and before_price and before_price > 0:
        out["supply_growth_90d"] = _change(market_cap / price, before_cap / before_price)
    return out


def revenue_inputs(history: TokenHistory, day: dt.date, m: Methodology = METHODOLOGY) -> dict[str, float | None]:
    """Revenue consistency over the newest 90 days of revenue data, and history length."""
    first = history.first_revenue_day
    out: dict[str, float | None] = {
        "revenue_history_days": float((day - first).days + 1) if first and first <= day else None,
        "revenue_consistency_90d": None,
    }
    k = (day - history.origin).days
    anchor = next(
        (i for i in range(k, max(k - REVENUE_MAX_LAG_DAYS - 1, -1), -1) if _at(history.revenue, i) is not None), None
    )
    consistency = m.input("revenue_consistency_90d")
    if anchor is None:
        return out
    window = _window(history.revenue, anchor, consistency.window_days)
    if len(window) >= max(consistency.min_days, 2):
        mean = math.fsum(window) / len(window)
        if mean > 0:
            out["revenue_consistency_90d"] = 1 - _stdev(window) / mean
    return out


def burned_share(
    burned: float | None, *, max_supply: float | None, market_cap: float | None, price: float | None
) -> float | None:
    """Tokens burned up to a day as a share of supply as of that day: of the max supply when
    the token has one, else of the circulating supply that day (market cap ÷ price) plus what
    was burned — the supply before those burns. Only figures of the day: today's total
    supply would overstate a past day's share, the burns since having shrunk it."""
    if burned is None or burned < 0:
        return None
    if max_supply:
        return burned / max_supply if max_supply > 0 else None
    if market_cap is None or price is None or market_cap <= 0 or price <= 0:
        return None
    return burned / (market_cap / price + burned)


def canonical(value: float | Decimal | str | None) -> str | None:
    """How an input is stored: a plain decimal string (no exponent, no trailing zeros),
    floats to six significant digits, so the stored inputs are what the scores were
    computed from. A string is a database's exact decimal text ("0.0438000000")."""
    if value is None:
        return None
    if isinstance(value, str):
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        return "0" if value in {"", "-0"} else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = f"{value:.{SIGNIFICANT_DIGITS}g}"
        if "e" not in text:
            return "0" if text == "-0" else text
        value = Decimal(text)
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


# --- A block of tokens at once ---------------------------------------------------------------


@dataclass(slots=True)
class SeriesBlock:
    """Dense daily series of a block of tokens: row ``t`` is a token, column ``j`` the day
    ``origin + j``, NaN where there is no data (so a block must hold finite values only:
    a token with a NaN or infinite figure goes through ``price_inputs`` instead)."""

    origin: dt.date
    prices: np.ndarray
    market_caps: np.ndarray
    volumes: np.ndarray
    revenue: np.ndarray
    first_revenue_days: Sequence[dt.date | None]
    returns: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        # Return j is price j over price j − 1 where both are there and the earlier is not 0.
        before, now = self.prices[:, :-1], self.prices[:, 1:]
        self.returns = np.full(self.prices.shape, np.nan)
        with np.errstate(all="ignore"):
            self.returns[:, 1:] = np.where(before != 0, now / before - 1.0, np.nan)


def _sums(slab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``math.fsum`` of its present values, and how many there are."""
    present = ~np.isnan(slab)
    counts = present.sum(axis=1)
    rows = slab.tolist()
    for t in np.flatnonzero(counts != slab.shape[1]).tolist():
        rows[t] = [v for v in rows[t] if v == v]  # NaN is the only value not equal to itself
    return np.fromiter(map(math.fsum, rows), dtype=float, count=len(rows)), counts


def _columns(values: np.ndarray, end: int, days: int) -> np.ndarray:
    """The columns of the ``days`` days ending at column ``end`` (inclusive), as ``_window``."""
    return values[:, max(end - days + 1, 0) : end + 1] if end >= 0 else values[:, :0]


def _block_average(values: np.ndarray, end: int, days: int, min_days: int) -> np.ndarray:
    sums, counts = _sums(_columns(values, end, days))
    with np.errstate(all="ignore"):
        return np.where((counts >= max(min_days, 1)), sums / counts, np.nan)


def _block_change(now: np.ndarray, then: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(~np.isnan(now) & (then > 0), now / then - 1.0, np.nan)


def _block_stdev(slab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's ``_stdev`` of its present values, their mean and their count."""
    sums, counts = _sums(slab)
    squares, _ = _sums(slab * slab)
    with np.errstate(all="ignore"):
        mean = sums / counts
        spread = squares - counts * mean * mean
        stdev = np.sqrt(np.where(spread < 0.0, 0.0, spread) / (counts - 1))  # max(spread, 0.0)
    return stdev, mean, counts


def _column(values: np.ndarray, index: int) -> np.ndarray:
    return values[:, index] if 0 <= index < values.shape[1] else np.full(len(values), np.nan)


def block_price_inputs(block: SeriesBlock, k: int, m: Methodology = METHODOLOGY) -> dict[str, list[float | None]]:
    """``price_inputs`` of every token of the block on column ``k``: input key → a value per row."""
    prices, caps = block.prices, block.market_caps
    price = prices[:, k]
    rated = price > 0  # NaN (no price) is not
    smooth, smooth_min = m.price_average_days, m.price_average_min_days
    average_now = _block_average(prices, k, smooth, smooth_min)
    out: dict[str, np.ndarray] = {}
    for key in ("return_30d", "return_90d"):
        then = k - m.input(key).window_days
        out[key] = _block_change(average_now, _block_average(prices, then, smooth, smooth_min))
    trend = m.input("trend_50d")
    out["trend_50d"] = _block_change(average_now, _block_average(prices, k, trend.window_days, trend.min_days))

    volatility = m.input("volatility_90d")
    stdev, _, counts = _block_stdev(_columns(block.returns, k, volatility.window_days))
    out["volatility_90d"] = np.where(counts >= max(volatility.min_days, 2), stdev, np.nan)

    drawdown = m.input("max_drawdown_180d")
    window = _columns(prices, k, drawdown.window_days)
    counts = (window > 0).sum(axis=1)
    window = np.where(window > 0, window, np.nan)
    with np.errstate(all="ignore"):
        # The running peak skips the NaNs (fmax), and so does the lowest ratio (fmin).
        lowest = np.fmin.reduce(window / np.fmax.accumulate(window, axis=1), axis=1) - 1.0
    out["max_drawdown_180d"] = np.where(counts >= drawdown.min_days, lowest, np.nan)

    market_cap = caps[:, k]
    liquidity = m.input("liquidity_30d")
    volume = _block_average(block.volumes, k, liquidity.window_days, liquidity.min_days)
    with np.errstate(all="ignore"):
        out["liquidity_30d"] = np.where(market_cap > 0, volume / market_cap, np.nan)

    supply_days = m.input("supply_growth_90d").window_days
    before_price = _column(prices, k - supply_days)
    before_cap = _column(caps, k - supply_days)
    with np.errstate(all="ignore"):
        then = np.where((before_cap != 0) & (before_price > 0), before_cap / before_price, np.nan)
        out["supply_growth_90d"] = np.where(market_cap != 0, _block_change(market_cap / price, then), np.nan)
    # A missing figure is NaN, and so is every quotient it enters: "!= 0" need not ask for one.
    return {key: _listed(np.where(rated, out[key], np.nan)) for key in PRICE_INPUTS}


def block_revenue_inputs(block: SeriesBlock, k: int, m: Methodology = METHODOLOGY) -> dict[str, list[float | None]]:
    """``revenue_inputs`` of every token of the block on column ``k``."""
    day = block.origin + dt.timedelta(days=k)
    history_days = [
        float((day - first).days + 1) if first and first <= day else None for first in block.first_revenue_days
    ]
    revenue = block.revenue
    rows = len(revenue)
    consistency: list[float | None] = [None] * rows
    lag = _columns(revenue, k, REVENUE_MAX_LAG_DAYS + 1)
    present = ~np.isnan(lag)
    anchored = np.flatnonzero(present.any(axis=1))
    if len(anchored):
        # The newest day with revenue, at most REVENUE_MAX_LAG_DAYS before day k.
        anchors = (k - np.argmax(present[anchored, ::-1], axis=1)).tolist()
        definition = m.input("revenue_consistency_90d")
        for anchor in sorted(set(anchors)):
            these = anchored[[a == anchor for a in anchors]]
            stdev, mean, counts = _block_stdev(_columns(revenue[these], anchor, definition.window_days))
            with np.errstate(all="ignore"):
                value = np.where((counts >= max(definition.min_days, 2)) & (mean > 0), 1 - stdev / mean, np.nan)
            for t, v in zip(these.tolist(), _listed(value), strict=True):
                consistency[t] = v
    return {"revenue_history_days": history_days, "revenue_consistency_90d": consistency}


def _listed(values: np.ndarray) -> list[float | None]:
    """Python floats, None for NaN."""
    return [None if v != v else v for v in values.tolist()]
