"""Valuation and value-accrual metrics: pure functions on Decimals.

Definitions follow PROVIDERS.md (DefiLlama's fees / revenue / holders revenue, Token
Terminal's annualisation: last 30 days × 365/30). Any missing or zero input that would
make a figure meaningless gives ``None`` ("no value", shown as "—"), never 0 or an error.

Daily fees and revenue may be negative (refunds, incentives netted out), and so may a
window's total and its annualised figure, which are shown as they are. A multiple or a
yield on a flow that is not positive (P/F, P/S, P/HR, holder yield) is ``None``: "the
market pays −40× revenue" means nothing. So is growth from a base that is not positive.
Buybacks are never negative: a buyback yield is 0 when a programme bought nothing in 30
days, and ``None`` when no buyback was ever recorded (the caller passes None).

Every figure is computed exactly and rounded once, where it is stored: each function does
its sums and products exactly and at most one division, in ``EXACT``: 100 significant
digits rounded "to odd" (ROUND_05UP), which keeps the last digit honest, so that rounding
the result to a column's places (``rounded``: half away from zero) gives the exact
quotient rounded once, ties included.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_05UP, ROUND_HALF_UP, Context, Decimal, InvalidOperation

D = Decimal
ANNUALISATION_WINDOW_DAYS = 30
DAYS_PER_YEAR = 365
# A window counts only when this share of its days has data: DefiLlama has gaps, but a
# 30-day sum over ten days of data would understate revenue threefold.
MIN_WINDOW_COVERAGE = D("0.9")
# Exact for sums and products of stored figures (at most 40 digits each); a quotient is
# cut to 100 digits rounding to odd, so one later rounding to fewer digits is exact.
EXACT = Context(prec=100, rounding=ROUND_05UP, Emax=999_999, Emin=-999_999)
_ROUNDING = Context(prec=100, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999)


def rounded(value: Decimal | None, places: Decimal, limit: Decimal) -> Decimal | None:
    """``value`` rounded half away from zero to ``places`` (a power of ten), or None when
    the result is not below ``limit`` (what the column holds)."""
    if value is None:
        return None
    try:
        result = value.quantize(places, context=_ROUNDING)
    except InvalidOperation:  # more digits than the context holds: far beyond any column
        return None
    return result if result.copy_abs() < limit else None


def window_total(values: Sequence[Decimal | None], *, window: int) -> Decimal | None:
    """Sum of a window of daily values, or None when too few days have data."""
    if window <= 0 or len(values) != window:
        return None
    present = [v for v in values if v is not None]
    total = D(0)
    for value in present:
        total = EXACT.add(total, value)
    return covered_total(total, days_present=len(present), window=window)


def covered_total(total: Decimal, *, days_present: int, window: int) -> Decimal | None:
    """A window's sum, kept only when enough of its days have data (see MIN_WINDOW_COVERAGE)."""
    if window <= 0 or D(days_present) < MIN_WINDOW_COVERAGE * window:
        return None
    return total


def annualise(total: Decimal | None, *, days: int = ANNUALISATION_WINDOW_DAYS) -> Decimal | None:
    """Annualised run rate of a total over ``days`` days (30 d × 365/30 by default)."""
    if total is None or days <= 0:
        return None
    return EXACT.divide(EXACT.multiply(total, DAYS_PER_YEAR), days)


def multiple(value: Decimal | None, total: Decimal | None) -> Decimal | None:
    """Market cap (or FDV) over the annualised flow of a 30-day ``total``: P/F, P/S, P/HR
    (value ÷ (total × 365/30), as one division). None unless both are positive."""
    if value is None or total is None or value <= 0 or total <= 0:
        return None
    return EXACT.divide(EXACT.multiply(value, ANNUALISATION_WINDOW_DAYS), EXACT.multiply(total, DAYS_PER_YEAR))


def yield_on(total: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    """The annualised flow of a 30-day ``total`` over market cap: holder yield, buyback
    yield ((total × 365/30) ÷ cap, as one division)."""
    if total is None or market_cap is None or market_cap <= 0 or total < 0:
        return None
    return EXACT.divide(EXACT.multiply(total, DAYS_PER_YEAR), EXACT.multiply(market_cap, ANNUALISATION_WINDOW_DAYS))


def holder_yield(holders_revenue_30d: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    """Holders revenue of the last 30 days, annualised, over market cap; None unless that
    revenue is positive (holders got nothing, or paid in)."""
    if holders_revenue_30d is None or holders_revenue_30d <= 0:
        return None
    return yield_on(holders_revenue_30d, market_cap)


def buyback_yield(buybacks_30d: Decimal | None, market_cap: Decimal | None) -> Decimal | None:
    """USD spent on tokens bought from the market in the last 30 days (held or burned:
    kinds "buyback" and "buyback-burn"), annualised, over market cap."""
    return yield_on(buybacks_30d, market_cap)


def growth(current: Decimal | None, prior: Decimal | None) -> Decimal | None:
    """Relative change of a window over the prior window of the same length (0.25 = +25 %):
    (current − prior) ÷ prior. None from a prior window that is not positive (a change
    from −10 to +5 has no meaningful percentage); a current one may be negative."""
    if current is None or prior is None or prior <= 0:
        return None
    return EXACT.divide(EXACT.subtract(current, prior), prior)


def price_change(now: Decimal | None, then: Decimal | None) -> Decimal | None:
    return growth(now, then)


def burned_share(
    burned: Decimal | None, *, max_supply: Decimal | None = None, total_supply: Decimal | None = None
) -> Decimal | None:
    """Tokens burned as a share of supply: of max supply, else of what existed before the burns."""
    if burned is None or burned < 0:
        return None
    if max_supply:
        return EXACT.divide(burned, max_supply) if max_supply > 0 else None
    if total_supply is not None and (before := EXACT.add(total_supply, burned)) > 0:
        return EXACT.divide(burned, before)
    return None


def fdv(price: Decimal | None, supply: Decimal | None) -> Decimal | None:
    """Fully diluted valuation from a price and a supply (max, else total), when both are known."""
    if price is None or not supply:
        return None
    return EXACT.multiply(price, supply)


def holders_share(holders_revenue: Decimal | None, revenue: Decimal | None) -> Decimal | None:
    """The share of revenue that reaches token holders."""
    if holders_revenue is None or revenue is None or revenue <= 0 or holders_revenue < 0:
        return None
    return EXACT.divide(holders_revenue, revenue)


def median(values: Sequence[Decimal | None]) -> Decimal | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    mid = len(present) // 2
    if len(present) % 2:
        return present[mid]
    return (present[mid - 1] + present[mid]) / 2
