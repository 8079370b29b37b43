"""Metrics against hand-computed values. No database."""

from decimal import Decimal as D

import pytest

from apps.tokens import metrics


def test_annualise_is_30_days_times_365_over_30():
    # 3,000,000 in 30 days -> 3,000,000 * 365 / 30 = 36,500,000
    assert metrics.annualise(D("3000000")) == D("36500000")


def test_annualise_of_missing_total_is_no_value():
    assert metrics.annualise(None) is None


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [
        (D("1000000000"), D("50000000") * 30 / 365, D("20")),  # 1B / 50M a year = 20x
        (D("365"), D("3"), D("10")),  # 3 in 30 days is 36.5 a year
    ],
)
def test_multiple_divides_value_by_annualised_30_day_total(value, total, expected):
    assert metrics.multiple(value, total).quantize(D("1e-10")) == expected


@pytest.mark.parametrize(
    ("value", "total"),
    [(None, D("1")), (D("1"), None), (D("1"), D("0")), (D("0"), D("1")), (D("1"), D("-5"))],
)
def test_multiple_with_missing_or_zero_input_is_no_value(value, total):
    assert metrics.multiple(value, total) is None


def test_ps_pf_phr_on_market_cap_and_fdv():
    # Fees 30d 10M, revenue 30d 6M, holders revenue 30d 3M; cap 2.19B, FDV 4.38B.
    assert metrics.annualise(D("6000000")) == D("73000000")
    assert metrics.multiple(D("2190000000"), D("6000000")) == D("30")  # P/S: 2.19B / 73M
    assert metrics.multiple(D("4380000000"), D("6000000")) == D("60")  # P/S on FDV
    assert metrics.multiple(D("2190000000"), D("3000000")) == D("60")  # P/HR: 2.19B / 36.5M
    assert metrics.multiple(D("2190000000"), D("10000000")) == D("18")  # P/F: 2.19B / 121.67M


def test_holder_yield_annualises_30_days_of_holders_revenue_over_market_cap():
    # 3M to holders in 30 days is 36.5M a year; on a 730M cap -> 5 %
    assert metrics.holder_yield(D("3000000"), D("730000000")) == D("0.05")


def test_holder_yield_without_market_cap_is_no_value():
    assert metrics.holder_yield(D("1"), None) is None
    assert metrics.holder_yield(D("1"), D("0")) is None
    assert metrics.holder_yield(None, D("100")) is None


def test_buyback_yield_annualises_30_days_of_buybacks():
    # 3M bought back in 30 days -> 36.5M a year; cap 365M -> 10 %
    assert metrics.buyback_yield(D("3000000"), D("365000000")) == D("0.1")


def test_buyback_yield_is_zero_when_a_programme_bought_nothing_in_30_days():
    assert metrics.buyback_yield(D("0"), D("365000000")) == D("0")
    assert metrics.buyback_yield(None, D("365000000")) is None  # no buyback ever recorded


# --- Negative revenue: stored and shown as it is; no multiple or yield on it ---------------


def test_negative_revenue_is_annualised_as_it_is():
    # −3,000 net in 30 days (refunds over fees) -> −3,000 × 365 / 30 = −36,500 a year
    assert metrics.annualise(D("-3000")) == D("-36500")
    assert metrics.window_total([D("100")] * 29 + [D("-4000")], window=30) == D("-1100")


@pytest.mark.parametrize("total", [D("-6000000"), D("0")])
def test_every_multiple_on_a_non_positive_flow_is_no_value(total):
    # P/F, P/S, P/HR on market cap (2.19B) and on FDV (4.38B) alike
    for value in (D("2190000000"), D("4380000000")):
        assert metrics.multiple(value, total) is None


@pytest.mark.parametrize("holders", [D("-3000000"), D("-0.0001"), D("0")])
def test_holder_yield_on_non_positive_holders_revenue_is_no_value(holders):
    assert metrics.holder_yield(holders, D("730000000")) is None


def test_growth_to_a_negative_window_from_a_positive_one_is_shown():
    # 100 in the prior 30 days, −50 in the last 30: (−50 − 100) / 100 = −150 %
    assert metrics.growth(D("-50"), D("100")) == D("-1.5")


@pytest.mark.parametrize("prior", [D("-100"), D("0")])
def test_growth_from_a_non_positive_prior_window_is_no_value(prior):
    # −100 -> +50 is not "−150 %": from a base that is not positive no percentage means anything
    assert metrics.growth(D("50"), prior) is None


def test_growth_is_window_over_prior_window_minus_one():
    assert metrics.growth(D("125"), D("100")) == D("0.25")
    assert metrics.growth(D("50"), D("100")) == D("-0.5")


def test_growth_from_zero_or_missing_prior_is_no_value():
    assert metrics.growth(D("10"), D("0")) is None
    assert metrics.growth(D("10"), None) is None
    assert metrics.growth(None, D("10")) is None


def test_burned_share_of_max_supply():
    # Geodnet: 34M burned of a 1B max supply -> 3.4 %
    assert metrics.burned_share(D("34000000"), max_supply=D("1000000000")) == D("0.034")


def test_burned_share_without_max_supply_uses_supply_before_burns():
    # 25 burned, 75 left -> 25 / 100
    assert metrics.burned_share(D("25"), total_supply=D("75")) == D("0.25")


def test_burned_share_without_supply_is_no_value():
    assert metrics.burned_share(D("25")) is None
    assert metrics.burned_share(None, max_supply=D("100")) is None


def test_holders_share_of_revenue():
    # Hyperliquid: 97 of 100 revenue reaches holders
    assert metrics.holders_share(D("97"), D("100")) == D("0.97")
    assert metrics.holders_share(D("1"), D("0")) is None
    assert metrics.holders_share(None, D("10")) is None


def test_window_total_sums_a_full_window():
    assert metrics.window_total([D("1")] * 30, window=30) == D("30")


def test_window_total_tolerates_small_gaps():
    values = [D("2")] * 27 + [None] * 3  # 27 of 30 days = 90 %
    assert metrics.window_total(values, window=30) == D("54")


def test_window_total_with_too_few_days_is_no_value():
    values = [D("2")] * 26 + [None] * 4
    assert metrics.window_total(values, window=30) is None


def test_window_total_of_the_wrong_length_is_no_value():
    assert metrics.window_total([D("1")] * 10, window=30) is None


def test_price_change():
    assert metrics.price_change(D("55"), D("12")).quantize(D("0.0001")) == D("3.5833")
    assert metrics.price_change(D("55"), None) is None


def test_median_ignores_missing_values():
    assert metrics.median([D("3"), None, D("1"), D("2")]) == D("2")
    assert metrics.median([D("4"), D("1"), D("3"), D("2")]) == D("2.5")
    assert metrics.median([None, None]) is None


def test_figures_are_exact_until_rounded_once_half_away_from_zero():
    # 1 / 2048 = 0.00048828125 exactly: a tie at 10 places, rounded away from zero.
    assert metrics.rounded(metrics.holders_share(D("1"), D("2048")), D("1e-10"), D("1e20")) == D("0.0004882813")
    assert metrics.rounded(metrics.growth(D("2047"), D("2048")), D("1e-10"), D("1e20")) == D("-0.0004882813")
    # Just below a tie stays below: 100 digits carry the difference, and the last one is odd.
    below = metrics.holders_share(D("0.999999999999999999999999999999"), D("2048"))
    assert metrics.rounded(below, D("1e-10"), D("1e20")) == D("0.0004882812")
    # A quotient that never ends is cut with its last digit odd (never a false tie).
    assert str(metrics.holders_share(D("1"), D("3")))[-1] in "13579"


def test_annualised_multiples_are_one_division_not_two():
    # 73/6 does not end: dividing by the rounded annual flow could round a second time.
    # P/F of 10 on 30-day fees of 6 = cap 10 × 6 × 365/30; exactly 10, whatever the digits.
    cap = D("730")
    assert metrics.multiple(cap, D("6")) == D("10")


def test_rounded_is_no_value_when_the_column_cannot_hold_it():
    assert metrics.rounded(D("99999999999999999999.99999999994"), D("1e-10"), D("1e20")) == D(
        "99999999999999999999.9999999999"
    )
    assert metrics.rounded(D("99999999999999999999.99999999995"), D("1e-10"), D("1e20")) is None
    assert metrics.rounded(D("1e30"), D("1e-10"), D("1e20")) is None
    assert metrics.rounded(None, D("1e-10"), D("1e20")) is None
