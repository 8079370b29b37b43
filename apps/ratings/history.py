"""Inputs derived from daily history: returns, trend, volatility, drawdown, liquidity,
supply growth, revenue consistency and history length. Pure: plain lists in, numbers out.

A series is dense: index 0 is ``origin``, each next index the next day, and a day
without data holds None. Every window ends on the rating's day and only looks back, so
data after that day can be present in the series and is never read.

Sums use ``math.fsum`` (exactly rounded): a window gives the same figure whatever the
series' origin, so one day recomputed alone matches the same day in a long backfill.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from operator import mul, truediv

from apps.tokens.snapshots import REVENUE_MAX_LAG_DAYS  # revenue windows end as the snapshots' do

from .scoring import METHODOLOGY, Methodology

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
