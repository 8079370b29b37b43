"""Selectors: screener filters and sorting, home leader boards, the token page's data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404

from apps.tokens import selectors, token_page
from apps.tokens.models import Category, PriceDay, RevenueReport, Source
from tests.factories import (
    TODAY,
    AccrualEventFactory,
    AccrualPolicyFactory,
    ChainFactory,
    MetricSnapshotFactory,
    PriceDayFactory,
    RevenueDayFactory,
    RevenueReportFactory,
    TokenFactory,
)

pytestmark = pytest.mark.django_db


def slugs(tokens) -> list[str]:
    return [t.slug for t in tokens]


def token_with(slug: str, **figures):
    token = TokenFactory(slug=slug, name=slug.title(), symbol=slug[:4].upper())
    MetricSnapshotFactory(token=token, **figures)
    return token


# --- screener: filters -------------------------------------------------------------


def test_search_matches_name_symbol_and_slug_case_insensitively():
    TokenFactory(slug="hyperliquid", name="Hyperliquid", symbol="HYPE")
    TokenFactory(slug="uniswap", name="Uniswap", symbol="UNI")
    TokenFactory(slug="aave", name="Aave", symbol="AAVE")

    assert slugs(selectors.screener_tokens(q="hyper")) == ["hyperliquid"]
    assert slugs(selectors.screener_tokens(q="uni")) == ["uniswap"]
    assert slugs(selectors.screener_tokens(q="  AAVE ")) == ["aave"]
    assert slugs(selectors.screener_tokens(q="nothing-like-this")) == []


def test_category_filter_keeps_only_that_category():
    TokenFactory(slug="dex", category=Category.SPOT_DEX)
    TokenFactory(slug="lender", category=Category.LENDING)

    assert slugs(selectors.screener_tokens(category=Category.LENDING)) == ["lender"]


def test_chain_filter_matches_any_of_a_tokens_chains_once():
    solana, base = ChainFactory(slug="solana"), ChainFactory(slug="base")
    TokenFactory(slug="both", chains=[solana, base])
    TokenFactory(slug="only-base", chains=[base])
    TokenFactory(slug="none")

    assert slugs(selectors.screener_tokens(chain="solana")) == ["both"]
    assert sorted(slugs(selectors.screener_tokens(chain="base"))) == ["both", "only-base"]


@pytest.mark.parametrize(
    "field",
    ["market_cap_usd", "ps", "phr", "holder_yield", "revenue_growth_30d", "pf", "volume_usd", "revenue_growth_90d"],
)
def test_range_bounds_are_inclusive_and_exclude_missing_figures(field):
    token_with("low", **{field: Decimal("1")})
    token_with("mid", **{field: Decimal("5")})
    token_with("high", **{field: Decimal("10")})
    token_with("missing", **{field: None})

    def matching(low, high):
        return sorted(slugs(selectors.screener_tokens(ranges={field: (low, high)})))

    assert matching(Decimal("5"), None) == ["high", "mid"]
    assert matching(None, Decimal("5")) == ["low", "mid"]
    assert matching(Decimal("2"), Decimal("9")) == ["mid"]
    assert matching(None, None) == ["high", "low", "mid", "missing"]


def test_tokens_without_a_snapshot_are_listed_but_never_match_a_range():
    TokenFactory(slug="new")
    token_with("tracked")

    assert sorted(slugs(selectors.screener_tokens())) == ["new", "tracked"]
    assert slugs(selectors.screener_tokens(ranges={"ps": (Decimal(0), None)})) == ["tracked"]


def test_unknown_range_field_is_refused():
    with pytest.raises(ValueError, match="Not a screener range"):
        selectors.screener_tokens(ranges={"token__name": (None, None)})


def test_filters_combine():
    solana = ChainFactory(slug="solana")
    a = token_with("a", ps=Decimal(4))
    a.chains.add(solana)
    b = token_with("b", ps=Decimal(40))
    b.chains.add(solana)
    token_with("c", ps=Decimal(4))

    assert slugs(selectors.screener_tokens(chain="solana", ranges={"ps": (None, Decimal(10))})) == ["a"]


# --- screener: sorting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "field"),
    [
        ("market_cap", "market_cap_usd"),
        ("ps", "ps"),
        ("phr", "phr"),
        ("holder_yield", "holder_yield"),
        ("growth_30d", "revenue_growth_30d"),
        ("change_7d", "price_change_7d"),
        ("revenue", "revenue_annualised"),
        ("buyback_yield", "buyback_yield"),
    ],
)
def test_sorting_puts_missing_figures_last_both_ways(sort, field):
    token_with("none-a", **{field: None})
    token_with("small", **{field: Decimal("1")})
    token_with("big", **{field: Decimal("9")})
    token_with("none-b", **{field: None})
    TokenFactory(slug="no-snapshot")

    assert slugs(selectors.screener_tokens(sort=sort, direction="asc")) == [
        "small",
        "big",
        "no-snapshot",
        "none-a",
        "none-b",
    ]
    assert slugs(selectors.screener_tokens(sort=sort, direction="desc")) == [
        "big",
        "small",
        "no-snapshot",
        "none-a",
        "none-b",
    ]


def test_sorting_on_token_columns():
    TokenFactory(slug="b", name="Beta", symbol="ZZZ", category=Category.LENDING)
    TokenFactory(slug="a", name="Alpha", symbol="MMM", category=Category.YIELD)
    TokenFactory(slug="c", name="Gamma", symbol="AAA", category=Category.DEPIN)

    assert slugs(selectors.screener_tokens(sort="name", direction="asc")) == ["a", "b", "c"]
    assert slugs(selectors.screener_tokens(sort="name", direction="desc")) == ["c", "b", "a"]
    assert slugs(selectors.screener_tokens(sort="symbol", direction="asc")) == ["c", "a", "b"]
    assert slugs(selectors.screener_tokens(sort="category", direction="asc")) == ["c", "b", "a"]


def test_ties_break_on_slug_so_pages_are_stable():
    for slug in ["d", "b", "c", "a"]:
        token_with(slug, ps=Decimal(3))

    assert slugs(selectors.screener_tokens(sort="ps", direction="desc")) == ["a", "b", "c", "d"]
    assert slugs(selectors.screener_tokens(sort="ps", direction="asc")) == ["a", "b", "c", "d"]


def test_default_sort_is_market_cap_descending_and_unknown_sort_falls_back_to_it():
    token_with("small", market_cap_usd=Decimal(10))
    token_with("big", market_cap_usd=Decimal(1000))

    assert slugs(selectors.screener_tokens()) == ["big", "small"]
    assert slugs(selectors.screener_tokens(sort="nonsense")) == ["big", "small"]


def test_every_sort_key_orders_without_error():
    token_with("one")
    TokenFactory(slug="two")
    for key in selectors.SCREENER_SORTS:
        for direction in ("asc", "desc"):
            assert len(slugs(selectors.screener_tokens(sort=key, direction=direction))) == 2


# --- home --------------------------------------------------------------------------


def test_home_sections_rank_and_leave_out_missing_or_wrong_signed_figures():
    token_with("big-rev", revenue_annualised=Decimal(900), revenue_growth_30d=Decimal("0.5"), holder_yield=None)
    token_with("small-rev", revenue_annualised=Decimal(100), revenue_growth_30d=Decimal("-0.4"))
    token_with("no-rev", revenue_annualised=None, revenue_growth_30d=None, holder_yield=Decimal("0.2"))
    token_with("flat", revenue_annualised=Decimal(50), revenue_growth_30d=Decimal(0), holder_yield=Decimal("0.01"))

    sections = selectors.home_sections()

    assert slugs(sections.revenue_leaders) == ["big-rev", "small-rev", "flat"]
    assert slugs(sections.movers_up) == ["big-rev"]
    assert slugs(sections.movers_down) == ["small-rev"]
    assert slugs(sections.top_holder_yields) == ["no-rev", "small-rev", "flat"]
    assert sections.price_as_of is not None and sections.revenue_as_of is not None


def test_home_sections_are_limited_to_ten():
    for i in range(12):
        token_with(f"t{i:02}", revenue_annualised=Decimal(100 + i))

    assert len(selectors.home_sections().revenue_leaders) == 10


def test_home_sections_with_no_data():
    sections = selectors.home_sections()
    assert sections.revenue_leaders == [] and sections.price_as_of is None


# --- token page --------------------------------------------------------------------


def test_token_page_404_for_unknown_slug():
    with pytest.raises(Http404):
        token_page.token_page("does-not-exist")


def test_category_medians_use_latest_snapshots_of_the_same_category_only():
    a = token_with("a", ps=Decimal(10), phr=None)
    token_with("b", ps=Decimal(20), phr=Decimal(7))
    token_with("c", ps=Decimal(40), phr=None)
    other = TokenFactory(slug="other", category=Category.LENDING)
    MetricSnapshotFactory(token=other, ps=Decimal(1000))
    # An older snapshot of "a" is not the latest and must not count.
    MetricSnapshotFactory(token=a, date=TODAY - dt.timedelta(days=1), ps=Decimal(5000), latest=False)

    page = token_page.token_page("a")

    medians = {row.field: (row.category_median, row.category_count) for row in page.valuation}
    values = {row.field: row.value for row in page.valuation}
    assert medians["ps"] == (Decimal(20), 3)
    assert medians["phr"] == (None, 1)  # one token's figure is no median
    assert values["ps"] == Decimal(10)
    assert values["phr"] is None
    assert page.category_size == 3


def test_each_category_median_counts_its_own_tokens_and_needs_three():
    token_with("a", ps=Decimal(10), phr=Decimal(1), pf=None)
    token_with("b", ps=Decimal(20), phr=Decimal(2), pf=None)
    token_with("c", ps=Decimal(30), phr=None, pf=None)
    token_with("d", ps=Decimal(40), phr=None, pf=Decimal(5))

    rows = {row.field: row for row in token_page.token_page("a").valuation}

    assert (rows["ps"].category_median, rows["ps"].category_count) == (Decimal(25), 4)
    assert (rows["phr"].category_median, rows["phr"].category_count) == (None, 2)
    assert (rows["pf"].category_median, rows["pf"].category_count) == (None, 1)


@pytest.mark.parametrize(
    ("circulating", "total", "max_supply", "cap", "fdv", "limit_name", "cap_above"),
    [
        ("100", "100", "100", "1000", "1000", None, False),  # equal is consistent
        ("101", "100", None, "1010", "1000", "total supply", True),
        ("101", "200", "100", "1010", "2000", "max supply", False),  # above the max, not the total
        ("101", "100", "100", None, None, "total supply", False),  # no figures: the supplies still warn
        ("100", "100", None, "1000.9", "1000", None, False),  # rounding and timing: tolerated
        ("100", "100", None, "1002", "1000", "", True),  # market cap alone above the FDV
        (None, "100", None, "1000", None, None, False),  # nothing to compare
    ],
)
def test_supply_warning(circulating, total, max_supply, cap, fdv, limit_name, cap_above):
    def dec(value):
        return None if value is None else Decimal(value)

    token = TokenFactory.build(circulating_supply=dec(circulating), total_supply=dec(total), max_supply=dec(max_supply))
    snapshot = MetricSnapshotFactory.build(token=token, market_cap_usd=dec(cap), fdv_usd=dec(fdv))

    warning = token_page.supply_warning(token, snapshot)

    if limit_name is None:
        assert warning is None
    else:
        assert (warning.limit_name, warning.market_cap_above_fdv) == (limit_name, cap_above)


def test_token_page_events_latest_first_limited_with_total():
    token = TokenFactory(slug="t")
    for days_ago in range(token_page.TOKEN_PAGE_EVENTS + 5):
        AccrualEventFactory(token=token, date=TODAY - dt.timedelta(days=days_ago))

    page = token_page.token_page("t")

    assert len(page.events) == token_page.TOKEN_PAGE_EVENTS
    assert page.events_total == token_page.TOKEN_PAGE_EVENTS + 5
    assert page.events[0].date == TODAY
    assert [e.date for e in page.events] == sorted((e.date for e in page.events), reverse=True)


def test_token_page_lists_editor_reports_first():
    token = TokenFactory(slug="t")
    RevenueReportFactory(token=token, period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31))
    editorial = RevenueReportFactory(
        token=token,
        period=RevenueReport.Period.ARR,
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 12, 31),
        source=Source.EDITOR,
        source_url="https://example.com/report",
    )
    RevenueReportFactory(token=token, period_start=dt.date(2026, 9, 1), period_end=dt.date(2026, 9, 30))

    page = token_page.token_page("t")

    assert page.reports[0] == editorial
    assert [r.period_start for r in page.reports[1:]] == [dt.date(2026, 10, 1), dt.date(2026, 9, 1)]


def test_token_page_chart_series():
    token = TokenFactory(slug="t")
    AccrualPolicyFactory(token=token)
    for i in range(3):
        day = dt.date(2026, 10, 30) + dt.timedelta(days=i)  # Oct 30, Oct 31, Nov 1
        PriceDayFactory(token=token, date=day, price_usd=Decimal(10 + i))
        RevenueDayFactory(token=token, date=day, revenue_usd=Decimal(100), holders_revenue_usd=Decimal(30))
    # A day whose holders revenue is missing counts it as none.
    RevenueDayFactory(token=token, date=dt.date(2026, 11, 2), revenue_usd=Decimal(50), holders_revenue_usd=None)
    AccrualEventFactory(token=token, date=dt.date(2026, 10, 31), usd_amount=Decimal(25))
    AccrualEventFactory(token=token, date=dt.date(2026, 10, 31), usd_amount=Decimal(5))
    AccrualEventFactory(token=token, date=dt.date(2026, 11, 1), kind="buyback-burn", usd_amount=Decimal(70))
    AccrualEventFactory(token=token, date=dt.date(2026, 11, 1), kind="distribution", usd_amount=Decimal(99))
    AccrualEventFactory(token=token, date=dt.date(2026, 11, 1), kind="burn", usd_amount=Decimal(500))  # a fee burn
    AccrualEventFactory(token=token, date=dt.date(2026, 11, 2), kind="burn", usd_amount=None)

    chart = token_page.token_chart("t")

    assert chart["price"] == [
        {"time": "2026-10-30", "value": 10.0},
        {"time": "2026-10-31", "value": 11.0},
        {"time": "2026-11-01", "value": 12.0},
    ]
    assert chart["revenue_daily"][0] == {"time": "2026-10-30", "protocol": 70.0, "holders": 30.0}
    assert chart["revenue_daily"][-1] == {"time": "2026-11-02", "protocol": 50.0, "holders": 0.0}
    assert chart["revenue_monthly"] == [
        {"time": "2026-10-01", "protocol": 140.0, "holders": 60.0, "days": 2},
        {"time": "2026-11-01", "protocol": 120.0, "holders": 30.0, "days": 2},
    ]
    # Tokens bought from the market (held, or burned) are marked, summed by day and by month;
    # a burn of tokens not bought (a fee burn) is not, whatever its USD value.
    assert chart["buybacks"] == [{"time": "2026-10-31", "usd": 30.0}, {"time": "2026-11-01", "usd": 70.0}]
    assert chart["buybacks_monthly"] == [{"time": "2026-10-01", "usd": 30.0}, {"time": "2026-11-01", "usd": 70.0}]


def test_token_page_chart_draws_negative_revenue_below_zero():
    token = TokenFactory(slug="t")
    for day, revenue, holders in (
        (dt.date(2026, 11, 14), Decimal("100"), Decimal("40")),
        (dt.date(2026, 11, 15), Decimal("-26491.25"), Decimal("-13245.63")),  # both negative
        (dt.date(2026, 11, 16), Decimal("100"), Decimal("-20")),  # holders paid in
        (dt.date(2026, 11, 17), Decimal("-100"), Decimal("30")),
    ):
        RevenueDayFactory(token=token, date=day, revenue_usd=revenue, holders_revenue_usd=holders)

    chart = token_page.token_chart("t")

    # Each bar's total (protocol + holders) is the day's revenue, holders drawn as stored.
    assert chart["revenue_daily"][1:] == [
        {"time": "2026-11-15", "protocol": -13245.62, "holders": -13245.63},
        {"time": "2026-11-16", "protocol": 120.0, "holders": -20.0},
        {"time": "2026-11-17", "protocol": -130.0, "holders": 30.0},
    ]
    assert chart["revenue_monthly"] == [
        {"time": "2026-11-01", "protocol": -13195.62, "holders": -13195.63, "days": 4},
    ]


def test_token_page_chart_is_bounded():
    token = TokenFactory(slug="t")
    PriceDay.objects.bulk_create(
        PriceDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i))
        for i in range(token_page.CHART_MAX_DAYS + 3)
    )

    chart = token_page.token_chart("t")

    assert len(chart["price"]) == token_page.CHART_MAX_DAYS
    assert chart["price"][-1]["time"] == TODAY.isoformat()
