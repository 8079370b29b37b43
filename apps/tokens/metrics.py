"""Valuation and value-accrual metrics: pure functions on Decimals.

Definitions follow PROVIDERS.md (DefiLlama's fees / revenue / holders revenue, Token
Terminal's annualisation: last 30 days × 365/30). Any missing or zero input that would
make a figure meaningless gives ``None`` ("no value", shown as "—"), never 0 or an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

D = Decimal
ANNUALISATION_WINDOW_DAYS = 30
DAYS_PER_YEAR = 365
# A window counts only when this share of its days has data: DefiLlama has gaps, but a
# 30-day sum over ten days of data would understate revenue threefold.
MIN_WINDOW_COVERAGE = D("0.9")


def window_total(values: Sequence[Decimal | None], *, window: int) -> Decimal | None:
    """Sum of a window of daily values, or None when too few days have data."""
    if window <= 0 or len(values) != window:
        return None
    present = [v for v in values if v is not None]
    return covered_total(sum(present, D(0)), days_present=len(present), window=window)


def covered_total(total: Decimal, *, days_present: int, window: int) -> Decimal | None:
    """A window's sum, kept only when enough of its days have data (see MIN_WINDOW_COVERAGE)."""
    if window <= 0 or D(days_present) < MIN_WINDOW_COVERAGE * window:
        return None
    return total


def annualise(total: Decimal | None, *, days: int = ANNUALISATION_WINDOW_DAYS) -> Decimal | None:
    """Annualised run rate of a total over ``days`` days (30 d × 365/30 by default)."""
    if total is None or days <= 0:
        return None
    return total * DAYS_PER_YEAR / days


def multiple(value: Decimal | None, annual_flow: Decimal | None) -> Decimal | None:
    """Market cap (or FDV) over an annualised flow: P/F, P/S, P/HR. None unless both are positive."""
    if value is None or annual_flow is None or value <= 0 or annual_flow <= 0:
        return None
    return value / annual_flow


def yield_on(annual_flow: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    """Annual flow to holders over market cap: holder yield, buyback yield."""
    if annual_flow is None or market_cap is None or market_cap <= 0 or annual_flow < 0:
        return None
    return annual_flow / market_cap


def holder_yield(annual_holders_revenue: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    return yield_on(annual_holders_revenue, market_cap)


def buyback_yield(buybacks_30d: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    """Buybacks of the last 30 days, annualised, over market cap."""
    return yield_on(annualise(buybacks_30d), market_cap)


def growth(current: Decimal | None, prior: Decimal | None) -> Decimal | None:
    """Relative change of a window over the prior window of the same length (0.25 = +25 %)."""
    if current is None or prior is None or prior <= 0:
        return None
    return current / prior - 1


def price_change(now: Decimal | None, then: Decimal | None) -> Decimal | None:
    return growth(now, then)


def burned_share(
    burned: Decimal | None, *, max_supply: Decimal | None = None, total_supply: Decimal | None = None
) -> Decimal | None:
    """Tokens burned as a share of supply: of max supply, else of what existed before the burns."""
    if burned is None or burned < 0:
        return None
    if max_supply:
        return burned / max_supply if max_supply > 0 else None
    if total_supply is not None and total_supply + burned > 0:
        return burned / (total_supply + burned)
    return None


def holders_share(holders_revenue: Decimal | None, revenue: Decimal | None) -> Decimal | None:
    """The share of revenue that reaches token holders."""
    if holders_revenue is None or revenue is None or revenue <= 0 or holders_revenue < 0:
        return None
    return holders_revenue / revenue


def median(values: Sequence[Decimal | None]) -> Decimal | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    mid = len(present) // 2
    if len(present) % 2:
        return present[mid]
    return (present[mid - 1] + present[mid]) / 2
