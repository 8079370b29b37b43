"""Ratings in a real browser: the leaderboard's HTMX swaps, the token page's grade chart
and its "what changed" swap, with no console errors."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from apps.ratings.services import ratings_backfill
from apps.tokens.models import Category
from tests.ratings.builders import END, rated_universe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rated():
    rated_universe(days=200)
    ratings_backfill(start=END - dt.timedelta(days=60), end=END)


def board_slugs(page) -> list[str]:
    return page.locator("#results tbody th a").evaluate_all(
        "links => links.map(a => a.getAttribute('href').split('/')[2])"
    )


def test_leaderboard_filters_and_sorts_without_reloading(live_server, page, rated, console_errors):
    page.goto(f"{live_server.url}/ratings/")
    expect(page.locator("#results tbody tr")).to_have_count(5)
    page.evaluate("window.__marker = 1")

    page.locator("#id_category").select_option(Category.LENDING)

    expect(page.locator("#results tbody tr")).to_have_count(3)
    assert set(board_slugs(page)) == {"alpha", "beta", "gamma"}
    assert "category=lending" in page.url and "band=" not in page.url

    page.locator("#results thead a", has_text="Token").click()
    expect(page.locator('#results th[aria-sort="ascending"]')).to_have_count(1)
    assert board_slugs(page) == ["alpha", "beta", "gamma"]
    assert "sort=name" in page.url and "category=lending" in page.url
    assert page.evaluate("window.__marker") == 1
    assert console_errors == []


def test_token_page_draws_the_grade_history_and_swaps_what_changed(live_server, page, rated, console_errors):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 400, "height": 700})
    page.goto(f"{live_server.url}/tokens/alpha/", wait_until="networkidle")
    expect(page.locator("#rating .grade-card")).to_have_count(3)
    # The grade history loads when its chart is scrolled to, not with the page.
    assert not [url for url in requested if "/ratings/alpha/history/" in url]
    page.locator("#rating-chart").scroll_into_view_if_needed()
    expect(page.locator("#rating-chart canvas").first).to_be_visible()
    assert [url for url in requested if url.endswith("/ratings/alpha/history/")]
    expect(page.locator(".rating-chart-card .chart-readout")).to_contain_text("Investor")
    page.evaluate("window.__marker = 1")

    page.locator("#compare-start").fill(str(END - dt.timedelta(days=7)))
    page.locator(".what-changed button[type=submit]").click()

    expect(page.locator("#rating-changes")).to_contain_text(str(END - dt.timedelta(days=7)))
    assert page.evaluate("window.__marker") == 1  # swapped, not reloaded
    assert console_errors == []


def test_track_record_draws_each_band_against_all_rated(live_server, page, console_errors):
    rated_universe(days=200)
    for month_end in (dt.date(2026, 4, 30), dt.date(2026, 5, 31), dt.date(2026, 6, 30)):
        ratings_backfill(start=month_end, end=month_end)

    page.goto(f"{live_server.url}/ratings/track-record/")

    expect(page.locator("#track-record-chart canvas").first).to_be_visible()
    expect(page.locator("#cumulative-h ~ .chart-readout, .card .chart-readout").first).to_contain_text("All rated")
    expect(page.locator("#cumulative-table")).to_be_hidden()  # in its <details>, closed
    page.locator("summary", has_text="The chart's figures as a table").click()
    expect(page.locator("#cumulative-table tbody tr")).to_have_count(3)
    assert console_errors == []
