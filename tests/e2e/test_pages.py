"""The pages in a real browser: HTMX swaps on the screener, charts on the token page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from apps.tokens.models import AccrualEvent, Category, PriceDay, RevenueDay
from tests.factories import (
    TODAY,
    AccrualEventFactory,
    AccrualPolicyFactory,
    MetricSnapshotFactory,
    PriceDayFactory,
    RevenueDayFactory,
    TokenFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tokens():
    for slug, name, symbol, category, ps in [
        ("hyperliquid", "Hyperliquid", "HYPE", Category.PERPS_DEX, "30"),
        ("aave", "Aave", "AAVE", Category.LENDING, "12"),
        ("compound", "Compound", "COMP", Category.LENDING, None),
        ("uniswap", "Uniswap", "UNI", Category.SPOT_DEX, "8"),
    ]:
        token = TokenFactory(slug=slug, name=name, symbol=symbol, category=category)
        MetricSnapshotFactory(token=token, ps=Decimal(ps) if ps else None)


def result_slugs(page) -> list[str]:
    return page.locator("#results tbody th a").evaluate_all(
        "links => links.map(a => a.getAttribute('href').split('/')[2])"
    )


def test_screener_filters_swap_results_without_reloading(live_server, page, tokens, console_errors):
    page.goto(f"{live_server.url}/tokens/")
    expect(page.locator("#results tbody tr")).to_have_count(4)
    page.evaluate("window.__marker = 1")

    page.locator("#id_q").press_sequentially("hyper", delay=30)

    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert result_slugs(page) == ["hyperliquid"]
    expect(page).to_have_url(f"{live_server.url}/tokens/?q=hyper&sort=market_cap&dir=desc")
    assert page.evaluate("window.__marker") == 1

    page.locator("#id_q").fill("")
    page.locator("#id_category").select_option("lending")

    expect(page.locator("#results tbody tr")).to_have_count(2)
    assert sorted(result_slugs(page)) == ["aave", "compound"]
    assert "category=lending" in page.url and "q=" not in page.url
    assert page.evaluate("window.__marker") == 1

    # A sortable header swaps the results too, keeping the category filter.
    page.locator("#results thead a", has_text="P/S").click()
    expect(page.locator('#results th[aria-sort="ascending"]')).to_have_count(1)
    assert result_slugs(page) == ["aave", "compound"]  # the missing P/S sorts last
    assert "sort=ps" in page.url and "dir=asc" in page.url and "category=lending" in page.url
    assert page.evaluate("window.__marker") == 1
    assert console_errors == []


def test_screener_works_without_javascript(live_server, browser, tokens):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/tokens/")
    page.locator("#id_category").select_option("lending")
    page.locator("#screener-form button[type=submit]").click()

    page.wait_for_url("**/tokens/?*category=lending*")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    context.close()


def test_token_page_draws_both_charts_without_console_errors(live_server, page, console_errors):
    token = TokenFactory(slug="hyperliquid", name="Hyperliquid", symbol="HYPE", category=Category.PERPS_DEX)
    MetricSnapshotFactory(token=token)
    AccrualPolicyFactory(token=token)
    PriceDay.objects.bulk_create(
        PriceDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i), price_usd=Decimal(20 + i % 9))
        for i in range(120)
    )
    RevenueDay.objects.bulk_create(
        RevenueDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i)) for i in range(120)
    )
    AccrualEvent.objects.bulk_create(
        AccrualEventFactory.build(token=token, date=TODAY - dt.timedelta(days=7 * i)) for i in range(10)
    )

    page.goto(f"{live_server.url}/tokens/hyperliquid/")
    page.locator("#price-chart").scroll_into_view_if_needed()

    expect(page.locator("#price-chart canvas").first).to_be_visible()
    expect(page.locator("#revenue-chart canvas").first).to_be_visible()
    page.locator(".toggle button[data-period=monthly]").click()
    expect(page.locator(".toggle button[data-period=monthly]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".chart-readout").nth(1)).to_contain_text("2026-11")
    page.locator("#price-chart").hover()
    assert console_errors == []
