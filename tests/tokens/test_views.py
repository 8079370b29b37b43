"""Reader pages: home, screener (full page and HTMX partial), token page.

Invalid screener input is answered with status 200, the error shown above the results and
the bad field left out of the query; a page number that is not a page is a 404.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.tokens import selectors, services, snapshots, token_page, views
from apps.tokens.models import AccrualEvent, Category, MetricSnapshot, PriceDay, RevenueDay, Source, Token
from apps.tokens.providers import coingecko
from apps.tokens.providers.base import Catalogue, EventInfo, ReportInfo, TokenInfo
from tests.factories import (
    AS_OF,
    TODAY,
    AccrualEventFactory,
    AccrualPolicyFactory,
    ChainFactory,
    MetricSnapshotFactory,
    PriceDayFactory,
    RevenueDayFactory,
    RevenueReportFactory,
    TokenFactory,
    UserFactory,
)
from tests.support.data_set import hold

pytestmark = pytest.mark.django_db

SCREENER = "/tokens/"


def slugs(response) -> list[str]:
    return [t.slug for t in response.context["tokens"]]


def token_with(slug: str, category: str = Category.SPOT_DEX, **figures) -> Token:
    token = TokenFactory(slug=slug, name=slug.title(), symbol=slug[:4].upper(), category=category)
    MetricSnapshotFactory(token=token, **figures)
    return token


def htmx_get(client, url, **params):
    return client.get(url, params, headers={"HX-Request": "true"})


def test_urls():
    assert reverse("tokens:home") == "/"
    assert reverse("tokens:screener") == "/tokens/"
    assert reverse("tokens:detail", kwargs={"slug": "hyperliquid"}) == "/tokens/hyperliquid/"


# --- home --------------------------------------------------------------------------


def test_home_shows_leader_boards(client):
    token_with("hyperliquid", revenue_annualised=Decimal("1200000000"), holder_yield=Decimal("0.031"))

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Revenue leaders" in html and "Best holder yields" in html
    assert "$1.20B" in html and "3.1%" in html
    assert 'href="/tokens/hyperliquid/"' in html


def test_home_boards_are_cached_until_a_refresh_finishes(client):
    """Every reader sees the same boards, so they are kept until the next refresh (or minute)."""
    token_with("hyperliquid", revenue_annualised=Decimal("1200000000"))
    assert 'href="/tokens/hyperliquid/"' in client.get("/").content.decode()
    token_with("aave", revenue_annualised=Decimal("900000000"))

    cached = client.get("/").content.decode()
    services.sync_run_finish(run=services.sync_run_start(provider="defillama", kind="revenue"), rows_written=1)
    fresh = client.get("/").content.decode()

    assert 'href="/tokens/aave/"' not in cached
    assert 'href="/tokens/aave/"' in fresh and 'href="/tokens/hyperliquid/"' in fresh


def test_home_boards_outlive_the_status_minute_and_an_editors_save_retires_them(client):
    """The boards are kept while the data is unchanged — not rebuilt each time the minute's
    data status is — and an editor's change in the admin (which the admin logs) retires them."""
    from django.contrib.admin.models import CHANGE, LogEntry

    hyperliquid = token_with("hyperliquid", revenue_annualised=Decimal("1200000000"))
    assert "Hyperliquid" in client.get("/").content.decode()
    cache.delete(selectors.DATA_STATUS_CACHE_KEY)  # the status's minute is up
    Token.objects.filter(pk=hyperliquid.pk).update(name="Hyperliquid Renamed")  # no signal, no log
    assert "Hyperliquid Renamed" not in client.get("/").content.decode()

    editor = UserFactory(is_staff=True)
    LogEntry.objects.log_actions(editor.pk, [hyperliquid], CHANGE, single_object=True)  # as the admin does
    assert "Hyperliquid Renamed" in client.get("/").content.decode()


def test_home_with_no_tokens(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No token has this figure yet." in response.content.decode()


def test_sample_banner_shows_the_data_date(client):
    token_with("aave", price_source="sample", price_as_of=AS_OF)
    hold("sample")

    html = client.get("/").content.decode()

    assert "Sample data as of 2026-11-20" in html


# --- screener: full page, partial, filters, sort, paging ----------------------------


def test_plain_request_renders_the_full_page(client):
    token_with("aave")

    response = client.get(SCREENER)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="screener-form"' in html and 'id="results"' in html
    assert 'hx-get="/tokens/"' in html and 'hx-target="#results"' in html and 'hx-push-url="true"' in html
    assert '<button type="submit"' in html  # works without JavaScript
    assert "HX-Request" in response["Vary"]


def test_htmx_request_renders_only_the_results_partial(client):
    token_with("aave")

    response = htmx_get(client, SCREENER, q="aav")

    html = response.content.decode()
    assert response.status_code == 200
    # The rows carry star forms (watchlists); the filter form stays out of the fragment.
    assert "<html" not in html and 'id="screener-form"' not in html
    assert "<table" in html and "AAVE" in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_full_page(client):
    response = client.get(SCREENER, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_search_filter(client):
    TokenFactory(slug="hyperliquid", name="Hyperliquid", symbol="HYPE")
    TokenFactory(slug="aave", name="Aave", symbol="AAVE")

    assert slugs(client.get(SCREENER, {"q": "hyp"})) == ["hyperliquid"]


def test_category_filter(client):
    TokenFactory(slug="dex", category=Category.SPOT_DEX)
    TokenFactory(slug="perps", category=Category.PERPS_DEX)

    assert slugs(client.get(SCREENER, {"category": "perps-dex"})) == ["perps"]


def test_chain_filter_by_slug(client):
    solana = ChainFactory(slug="solana", name="Solana")
    TokenFactory(slug="jup", chains=[solana])
    TokenFactory(slug="uni")

    response = client.get(SCREENER, {"chain": "solana"})

    assert slugs(response) == ["jup"]
    assert '<option value="solana" selected>Solana</option>' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field", "expected"),
    [
        # Market cap is typed in millions of USD.
        ({"mcap_min": "100"}, "market_cap_usd", ["high", "mid"]),
        ({"mcap_max": "100"}, "market_cap_usd", ["low", "mid"]),
        ({"ps_min": "5", "ps_max": "5"}, "ps", ["mid"]),
        ({"phr_max": "4.99"}, "phr", ["low"]),
        # Yields and growth are typed in percent.
        ({"yield_min": "5"}, "holder_yield", ["high", "mid"]),
        ({"growth_min": "-10", "growth_max": "10"}, "revenue_growth_30d", ["mid"]),
    ],
)
def test_range_filters_convert_units(client, params, field, expected):
    values = {
        "market_cap_usd": (Decimal("1e7"), Decimal("1e8"), Decimal("1e9")),
        "ps": (Decimal(1), Decimal(5), Decimal(10)),
        "phr": (Decimal(1), Decimal(5), Decimal(10)),
        "holder_yield": (Decimal("0.01"), Decimal("0.05"), Decimal("0.10")),
        "revenue_growth_30d": (Decimal("-0.5"), Decimal("0"), Decimal("0.5")),
    }[field]
    for slug, value in zip(("low", "mid", "high"), values, strict=True):
        token_with(slug, **{field: value})
    token_with("missing", **{field: None})

    assert sorted(slugs(client.get(SCREENER, params))) == expected


@pytest.mark.parametrize(
    ("sort", "field"),
    [
        ("ps", "ps"),
        ("holder_yield", "holder_yield"),
        ("market_cap", "market_cap_usd"),
        ("growth_90d", "revenue_growth_90d"),
    ],
)
def test_sorting_asc_and_desc_keeps_missing_last(client, sort, field):
    token_with("one", **{field: Decimal(1)})
    token_with("none", **{field: None})
    token_with("three", **{field: Decimal(3)})

    assert slugs(client.get(SCREENER, {"sort": sort, "dir": "asc"})) == ["one", "three", "none"]
    assert slugs(client.get(SCREENER, {"sort": sort, "dir": "desc"})) == ["three", "one", "none"]


def test_text_columns_sort_a_to_z_by_default(client):
    TokenFactory(slug="b", name="Beta")
    TokenFactory(slug="a", name="Alpha")

    assert slugs(client.get(SCREENER, {"sort": "name"})) == ["a", "b"]


def test_sort_headers_keep_filters_drop_page_and_flip_direction(client):
    token_with("aave", category=Category.LENDING)

    html = client.get(SCREENER, {"category": "lending", "q": "", "sort": "ps", "dir": "asc", "page": "1"}).content
    html = html.decode()

    # The active column flips; the others start at their natural direction. Empty filters are left out.
    assert 'href="/tokens/?category=lending&amp;sort=ps&amp;dir=desc"' in html
    assert 'hx-get="/tokens/?category=lending&amp;sort=market_cap&amp;dir=desc"' in html
    assert 'href="/tokens/?category=lending&amp;sort=name&amp;dir=asc"' in html
    assert 'aria-sort="ascending"' in html


def test_paging(client, settings):
    settings.SCREENER_PAGE_SIZE = 2
    for i in range(5):
        token_with(f"t{i}", market_cap_usd=Decimal(100 - i))

    first = client.get(SCREENER)
    last = client.get(SCREENER, {"page": "3"})

    assert slugs(first) == ["t0", "t1"]
    assert slugs(client.get(SCREENER, {"page": "2"})) == ["t2", "t3"]
    assert slugs(last) == ["t4"]
    assert 'href="/tokens/?page=2"' in first.content.decode()
    assert "page 3 of 3" in last.content.decode()


def test_paging_keeps_filters(client, settings):
    settings.SCREENER_PAGE_SIZE = 1
    token_with("a", category=Category.LENDING)
    token_with("b", category=Category.LENDING)

    html = client.get(SCREENER, {"category": "lending", "sort": "name"}).content.decode()

    assert 'href="/tokens/?category=lending&amp;sort=name&amp;page=2"' in html


# --- screener: bad input ----------------------------------------------------------


@pytest.mark.parametrize("number", ["abc", "99999", "-1", "0", "1.5", "1e400", " "])
def test_a_page_that_is_not_a_page_is_404(client, number):
    token_with("aave")
    assert client.get(SCREENER, {"page": number}).status_code == 404


def test_empty_results_page_one_is_fine(client):
    assert client.get(SCREENER, {"q": "nothing"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mcap_min": "abc"}, "Enter a number."),
        ({"ps_max": "1e400"}, "Ensure that there are no more than"),
        ({"phr_min": "9" * 40}, "Ensure that there are no more than"),
        ({"yield_min": "NaN"}, "Enter a number."),
        ({"growth_max": "Infinity"}, "Enter a number."),
        ({"category": "not-a-category"}, "Select a valid choice."),
        ({"chain": "atlantis"}, "Select a valid choice."),
        ({"sort": "drop table"}, "Select a valid choice."),
        ({"dir": "sideways"}, "Select a valid choice."),
        ({"q": "x" * 500}, "Ensure this value has at most 100 characters"),
        ({"q": "a\x00b"}, "Null characters are not allowed."),
        ({"chain": "\x00"}, "Null characters are not allowed."),
        ({"mcap_min": "1" * 5000}, "Ensure that there are no more than"),
    ],
)
def test_nonsense_filters_are_shown_as_errors_and_ignored(client, params, message):
    token_with("aave")

    response = client.get(SCREENER, params)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters could not be read and were left out" in html
    assert message in html
    assert slugs(response) == ["aave"]  # the bad filter is left out, the list still shows


def test_bad_filter_errors_also_show_in_the_htmx_partial(client):
    response = htmx_get(client, SCREENER, mcap_min="lots")
    assert response.status_code == 200
    assert "Enter a number." in response.content.decode()


def test_valid_filters_apply_beside_an_invalid_one(client):
    token_with("cheap", ps=Decimal(2))
    token_with("dear", ps=Decimal(50))

    response = client.get(SCREENER, {"ps_max": "10", "mcap_min": "oops"})

    assert slugs(response) == ["cheap"]


def test_post_is_refused(client):
    assert client.post(SCREENER).status_code == 405


def test_screener_order_is_kept_until_a_refresh_finishes_but_figures_are_fresh(client):
    """Sorting every token is done once per data generation; the rows shown are read each time."""
    token_with("big", market_cap_usd=Decimal("2000000000"))
    small = token_with("small", market_cap_usd=Decimal("1000000000"))
    assert slugs(client.get(SCREENER)) == ["big", "small"]
    MetricSnapshot.objects.filter(token=small).update(market_cap_usd=Decimal("3000000000"))

    cached = client.get(SCREENER)
    services.sync_run_finish(run=services.sync_run_start(provider="coingecko", kind="markets"), rows_written=1)
    fresh = client.get(SCREENER)

    assert slugs(cached) == ["big", "small"] and "$3.00B" in cached.content.decode()
    assert slugs(fresh) == ["small", "big"]


def test_screener_orders_are_kept_apart_by_filter_and_sort(client):
    token_with("aa", category=Category.LENDING, ps=Decimal(5))
    token_with("bb", category=Category.SPOT_DEX, ps=Decimal(1))

    assert slugs(client.get(SCREENER, {"sort": "ps", "dir": "asc"})) == ["bb", "aa"]
    assert slugs(client.get(SCREENER, {"sort": "ps", "dir": "desc"})) == ["aa", "bb"]
    assert slugs(client.get(SCREENER, {"sort": "ps", "category": Category.LENDING})) == ["aa"]


def test_cached_order_reads_only_the_page_and_skips_rows_gone_since(django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(selectors, "ORDER_CHUNK", 2)  # pages that straddle chunks
    tokens = [token_with(f"t{i}") for i in range(5)]
    rows = Token.objects.select_related("latest_snapshot")
    selectors.cached_order(Token.objects.order_by("-slug"), key="test", rows=rows)  # sorts and caches
    tokens[3].delete()

    with django_assert_num_queries(1):  # the rows of the page, not the sort
        order = selectors.cached_order(Token.objects.order_by("-slug"), key="test", rows=rows)
        assert len(order) == 5  # as sorted
        assert [t.slug for t in order[1:4]] == ["t2", "t1"]
    assert order[-1].slug == "t0"
    cache.delete_many([f"{order.name}:1"])  # a chunk evicted: sorted again
    assert [t.slug for t in order[0:5]] == ["t4", "t2", "t1", "t0"]


# --- token page ------------------------------------------------------------------


def full_token(slug="hyperliquid", days=10, events=5) -> Token:
    token = TokenFactory(slug=slug, name="Hyperliquid", symbol="HYPE", category=Category.PERPS_DEX)
    token.chains.add(ChainFactory(slug="hyperliquid-l1", name="Hyperliquid L1"))
    MetricSnapshotFactory(token=token, price_usd=Decimal("42.5"), market_cap_usd=Decimal("14200000000"))
    AccrualPolicyFactory(token=token)
    PriceDay.objects.bulk_create(
        PriceDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i)) for i in range(days)
    )
    RevenueDay.objects.bulk_create(
        RevenueDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i)) for i in range(days)
    )
    AccrualEvent.objects.bulk_create(
        AccrualEventFactory.build(token=token, date=TODAY - dt.timedelta(days=i)) for i in range(events)
    )
    RevenueReportFactory(token=token)
    return token


def test_token_page_shows_figures_with_sources_and_medians(client):
    full_token()
    RevenueReportFactory(
        token=Token.objects.get(slug="hyperliquid"),
        period="arr",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
        source=Source.EDITOR,
        source_url="https://example.com/arr-report",
    )

    response = client.get("/tokens/hyperliquid/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Hyperliquid" in html and "HYPE" in html and "Hyperliquid L1" in html
    assert "$42.50" in html and "$14.20B" in html
    assert "Source: CoinGecko · as of" in html and "Source: DefiLlama · as of" in html
    assert "2026-11-20 00:04 UTC" in html
    assert "Perpetuals exchange median" in html
    assert "P/HR on FDV" in html and "market cap ÷ annualised holders revenue" in html
    assert "Buyback" in html and "97.0% of fees" in html
    assert 'href="https://example.com/arr-report"' in html and ">Editor<" in html
    assert 'id="price-chart"' in html and 'id="revenue-chart"' in html
    assert 'data-src="/tokens/hyperliquid/charts/"' in html and "token-charts.js" in html
    # The series and the chart library load when the charts are scrolled to, not with the page.
    assert 'id="chart-data"' not in html and 'data-lib="/static/vendor/lightweight-charts/' in html
    assert not re.search(r"<script[^>]*lightweight-charts", html)


def test_token_charts_endpoint_returns_the_series(client):
    full_token(days=3, events=0)

    response = client.get("/tokens/hyperliquid/charts/")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert [p["time"] for p in data["price"]] == [(TODAY - dt.timedelta(days=i)).isoformat() for i in (2, 1, 0)]
    assert len(data["revenue_daily"]) == 3 and data["buybacks"] == []


def test_token_charts_endpoint_is_404_for_an_unknown_token(client):
    assert client.get("/tokens/no-such-token/charts/").status_code == 404


def test_token_charts_endpoint_refuses_post(client):
    full_token()

    assert client.post("/tokens/hyperliquid/charts/").status_code == 405


def test_token_page_shows_the_latest_events_and_links_to_all_of_them(client):
    full_token(events=token_page.TOKEN_PAGE_EVENTS + 3)

    html = client.get("/tokens/hyperliquid/").content.decode()

    events = html[html.index('id="events-h"') : html.index('id="reports-h"')]
    assert events.count("<tr>") == token_page.TOKEN_PAGE_EVENTS + 1  # and the header row
    total = token_page.TOKEN_PAGE_EVENTS + 3
    assert f"of {total} events" in events and f'href="/tokens/hyperliquid/events/">All {total} events' in events


def test_token_page_with_few_events_does_not_link_to_a_list(client):
    full_token(events=2)

    html = client.get("/tokens/hyperliquid/").content.decode()

    assert "/tokens/hyperliquid/events/" not in html and "Latest 2 of 2 events" in html


def test_event_list_pages_every_event_newest_first(client):
    full_token(events=views.TOKEN_LIST_PAGE_SIZE + 2)

    first = client.get("/tokens/hyperliquid/events/")
    second = client.get("/tokens/hyperliquid/events/", {"page": 2})

    assert first.status_code == 200 and second.status_code == 200
    days = re.findall(r'<td class="nowrap">(\d{4}-\d\d-\d\d)</td>', first.content.decode())
    assert len(days) == views.TOKEN_LIST_PAGE_SIZE and days == sorted(days, reverse=True)
    assert days[0] == TODAY.isoformat()
    rest = re.findall(r'<td class="nowrap">(\d{4}-\d\d-\d\d)</td>', second.content.decode())
    assert rest == [(TODAY - dt.timedelta(days=n)).isoformat() for n in (50, 51)]
    assert 'rel="next" href="?page=2"' in first.content.decode()


def test_report_list_shows_editor_reports_first(client):
    token = full_token()
    RevenueReportFactory(token=token, period="arr", source=Source.EDITOR, source_url="https://example.com/r")

    html = client.get("/tokens/hyperliquid/reports/").content.decode()

    rows = re.findall(r"<tr(?: class=\"editorial\")?>\s*<td>", html)
    assert len(rows) == 2 and rows[0].startswith('<tr class="editorial">')
    assert 'href="https://example.com/r"' in html


@pytest.mark.parametrize("url", ["/tokens/no-such-token/events/", "/tokens/no-such-token/reports/"])
def test_lists_of_an_unknown_token_are_404(client, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("page", ["2", "0", "x"])
def test_list_page_that_is_not_a_page_is_404(client, page):
    full_token(events=3)

    assert client.get("/tokens/hyperliquid/events/", {"page": page}).status_code == 404


def test_token_lists_have_flat_query_counts(client):
    token = full_token(events=3)
    small = {url: queries_for(client, url) for url in ("/tokens/hyperliquid/events/", "/tokens/hyperliquid/reports/")}
    AccrualEvent.objects.bulk_create(
        AccrualEventFactory.build(token=token, date=TODAY - dt.timedelta(days=100 + i)) for i in range(60)
    )
    RevenueReportFactory.create_batch(5, token=token)

    assert {url: queries_for(client, url) for url in small} == small


def catalogue_with_report_and_event(slug: str) -> Catalogue:
    return Catalogue(
        tokens=[TokenInfo(slug=slug, symbol="HYPE", name="Hyperliquid", category=Category.PERPS_DEX)],
        events=[
            EventInfo(
                token_slug=slug,
                date=TODAY,
                kind="buyback",
                usd_amount=Decimal("1000000"),
                reference="https://explorer.example/tx/0xabc",
            )
        ],
        reports=[
            ReportInfo(
                token_slug=slug,
                period="quarter",
                period_start=dt.date(2026, 7, 1),
                period_end=dt.date(2026, 9, 30),
                revenue=Decimal("250000000"),
                source_url="https://defillama.com/protocol/hyperliquid",
                note="Sum of the sample daily series for the period (generated figures).",
            )
        ],
    )


def test_generated_records_are_labelled_generated_and_link_nowhere(client):
    services.catalogue_upsert(
        catalogue=catalogue_with_report_and_event("hyperliquid"), source=Source.SAMPLE, fetched_at=AS_OF
    )

    html = client.get("/tokens/hyperliquid/").content.decode()

    reports = html[html.index('id="reports-h"') :]
    events = html[html.index('id="events-h"') : html.index('id="reports-h"')]
    assert ">Generated<" in reports and ">Generated<" in events
    assert ">Editor<" not in html
    assert "defillama.com" not in html
    assert 'href="https://explorer.example/tx/0xabc"' not in html


def test_editor_records_keep_their_badge_and_links(client):
    services.catalogue_upsert(
        catalogue=catalogue_with_report_and_event("hyperliquid"), source=Source.EDITOR, fetched_at=AS_OF
    )

    html = client.get("/tokens/hyperliquid/").content.decode()

    assert ">Editor<" in html and 'href="https://defillama.com/protocol/hyperliquid"' in html
    assert 'href="https://explorer.example/tx/0xabc"' in html
    assert ">Generated<" not in html


def test_circulating_above_total_supply_is_flagged_beside_the_figures_not_hidden(client):
    token = TokenFactory(
        slug="tron", symbol="TRX", circulating_supply=Decimal("95169534716"), total_supply=Decimal("94700000000")
    )
    MetricSnapshotFactory(token=token, market_cap_usd=Decimal("28828374778"), fdv_usd=Decimal("28686145200"))

    html = client.get("/tokens/tron/").content.decode()

    market = html[html.index(">Market<") : html.index(">Revenue <")]
    assert 'id="supply-warning" role="note"' in market
    assert "more TRX circulating (95,169,534,716) than its total supply (94,700,000,000)" in market
    assert "so the market cap is above the FDV" in market
    assert "$28.83B" in market and "$28.69B" in market  # still shown, as reported
    assert market.count('aria-describedby="supply-warning"') == 2


def test_consistent_supplies_carry_no_warning(client):
    token = TokenFactory(slug="sound", circulating_supply=Decimal("9e8"), total_supply=Decimal("1e9"))
    MetricSnapshotFactory(token=token, market_cap_usd=Decimal("2.25e9"), fdv_usd=Decimal("2.5e9"))

    html = client.get("/tokens/sound/").content.decode()

    assert "supply-warning" not in html


def test_zero_market_cap_from_coingecko_is_shown_as_missing(client):
    """A quote with market cap, FDV and circulating supply 0 (CoinGecko's "not known") goes
    through the parser, the upsert and the reprice (in SQL on PostgreSQL) to a page showing
    "—"; the FDV is then computed from the total supply, and the Python recompute agrees."""
    token = TokenFactory(slug="young", symbol="YNG", coingecko_id="young-cg", total_supply=None)
    PriceDayFactory(token=token, date=TODAY - dt.timedelta(days=1))
    snapshots.snapshots_recompute(token_ids=[token.pk], computed_at=AS_OF)
    row = {"id": "young-cg", "symbol": "yng", "name": "Young", "last_updated": AS_OF.isoformat(),
           "current_price": 0.5, "market_cap": 0, "fully_diluted_valuation": 0, "total_volume": 0,
           "circulating_supply": 0, "total_supply": 1_000_000_000, "max_supply": None}  # fmt: skip
    services.market_quotes_upsert(
        quotes=coingecko.parse_markets([row]), source=Source.COINGECKO, sync_run=None, fetched_at=AS_OF
    )
    snapshots.snapshots_reprice(token_ids=[token.pk], day=TODAY, computed_at=AS_OF)
    repriced = MetricSnapshot.objects.get(token=token, date=TODAY)

    html = client.get("/tokens/young/").content.decode()

    assert "<dt>Market cap</dt><dd>—</dd>" in html
    assert "<dt>FDV</dt><dd>$500.0M</dd>" in html
    assert "<dt>Volume 24h</dt><dd>$0</dd>" in html  # a volume of 0 is real
    assert (repriced.market_cap_usd, repriced.holder_yield, repriced.ps) == (None, None, None)
    snapshots.snapshots_recompute(token_ids=[token.pk], since=TODAY, computed_at=AS_OF)
    recomputed = MetricSnapshot.objects.get(token=token, date=TODAY)
    assert [getattr(recomputed, f) for f in snapshots.COMPARED_FIELDS] == [
        getattr(repriced, f) for f in snapshots.COMPARED_FIELDS
    ]


def test_tracked_holders_revenue_of_zero_is_a_real_zero(client):
    """The README's rule: a reported 0 is shown as 0; a multiple or yield over it has no value."""
    token = TokenFactory(slug="uniswap", symbol="UNI")
    PriceDay.objects.bulk_create(
        PriceDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i)) for i in range(30)
    )
    RevenueDay.objects.bulk_create(
        RevenueDayFactory.build(token=token, date=TODAY - dt.timedelta(days=i), holders_revenue_usd=0)
        for i in range(1, 31)
    )
    snapshots.snapshots_recompute(token_ids=[token.pk], computed_at=AS_OF)

    html = client.get("/tokens/uniswap/").content.decode()

    assert "<dt>Holders revenue</dt><dd>$0</dd>" in html
    valuation = html[html.index('id="valuation-h"') : html.index('id="policy-h"')]
    yield_row = re.search(r"Holder yield<span.*?</tr>", valuation, re.S).group(0)
    phr_row = re.search(r"P/HR<span.*?</tr>", valuation, re.S).group(0)
    assert '<td class="num">—</td>' in yield_row
    assert '<td class="num">—</td>' in phr_row
    assert "<dt>Buybacks 30d</dt><dd>—</dd>" in html  # none ever recorded


def test_category_medians_show_their_own_counts_and_none_below_three(client):
    for slug, ps, phr in (("aa", 10, 1), ("bb", 20, 2), ("cc", 30, None), ("dd", 40, None), ("ee", 50, None)):
        token_with(slug, ps=Decimal(ps), phr=None if phr is None else Decimal(phr))

    html = client.get("/tokens/aa/").content.decode()

    valuation = html[html.index('id="valuation-h"') : html.index('id="policy-h"')]
    ps_row = re.search(r"P/S<span.*?</tr>", valuation, re.S).group(0)
    phr_row = re.search(r"P/HR<span.*?</tr>", valuation, re.S).group(0)
    assert '30.0×<span class="hint">of 5 tokens</span>' in ps_row
    assert '—<span class="hint">only 2 tokens have it</span>' in phr_row
    assert "1.5×" not in phr_row  # the median of two is not shown
    assert "(5 tokens in all)" in valuation and "Fewer than 3: no median." in valuation


def test_category_medians_are_kept_until_a_refresh_finishes(client):
    for slug, ps in (("aa", 10), ("bb", 20), ("cc", 30)):
        token_with(slug, ps=Decimal(ps))
    assert '20.0×<span class="hint">of 3 tokens' in client.get("/tokens/aa/").content.decode()
    MetricSnapshot.objects.filter(token__slug="aa").update(ps=Decimal(25))

    cached = client.get("/tokens/cc/").content.decode()
    services.sync_run_finish(run=services.sync_run_start(provider="coingecko", kind="markets"), rows_written=1)
    fresh = client.get("/tokens/cc/").content.decode()

    assert '20.0×<span class="hint">of 3 tokens' in cached
    assert '25.0×<span class="hint">of 3 tokens' in fresh


def test_unknown_token_is_404(client):
    response = client.get("/tokens/no-such-token/")

    assert response.status_code == 404
    assert "Open the screener" in response.content.decode()  # the site's own 404 page


def test_token_without_snapshot_or_history_shows_dashes_not_zeros(client):
    TokenFactory(slug="fresh", name="Fresh", symbol="FRSH")

    html = client.get("/tokens/fresh/").content.decode()

    assert "—" in html
    assert "$0" not in html and "0.0%" not in html and "0.0×" not in html
    assert 'id="price-chart"' not in html and "token-charts.js" not in html  # no chart without history


def test_missing_figures_render_as_dash_in_the_screener(client):
    token_with(
        "gappy",
        price_usd=None,
        market_cap_usd=None,
        fdv_usd=None,
        revenue_annualised=None,
        holder_yield=None,
        ps=None,
        price_change_7d=None,
    )

    html = client.get(SCREENER).content.decode()
    row = re.search(r"<tr>\s*<th scope=\"row\".*?</tr>", html, re.S).group(0)

    assert row.count("—") >= 7
    assert "$0" not in row and ">0.0%<" not in row


# --- query counts ----------------------------------------------------------------


def queries_for(client, url) -> int:
    cache.clear()  # the data status is cached; measure every page from cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def make_tokens(n: int, offset: int = 0) -> None:
    chain = ChainFactory(slug="ethereum")
    for i in range(offset, offset + n):
        token = TokenFactory(slug=f"bulk-{i:04}", category=Category.SPOT_DEX)
        token.chains.add(chain)
        MetricSnapshotFactory(token=token, revenue_growth_30d=Decimal(i % 7 - 3) / 10)


def test_query_counts_do_not_grow_with_the_number_of_tokens(client):
    make_tokens(10)
    full_token(slug="hyperliquid")
    urls = ("/", SCREENER, "/tokens/hyperliquid/", "/tokens/hyperliquid/charts/", SCREENER + "?q=bulk")
    small = {url: queries_for(client, url) for url in urls}

    make_tokens(490, offset=10)
    large = {url: queries_for(client, url) for url in small}

    assert large == small
    assert small[SCREENER] <= 6


def test_token_page_queries_do_not_grow_with_days_or_events(client):
    full_token(slug="short", days=10, events=5)
    full_token(slug="long", days=400, events=100)
    hold("live")  # as a database with figures records (its data status is then one query)

    assert queries_for(client, "/tokens/short/") == queries_for(client, "/tokens/long/") <= 12


# --- CSP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", SCREENER, "/tokens/hyperliquid/", SCREENER + "?mcap_min=abc", "/tokens/no-such-token/"]
)
def test_every_page_has_a_nonce_csp_and_every_script_carries_the_nonce(client, url):
    full_token(slug="hyperliquid")

    response = client.get(url)

    assert response.status_code in (200, 404)
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    assert directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "expected at least the htmx script"
    for tag in scripts:
        # json_script data blocks are not executed, so CSP does not apply to them.
        if 'type="application/json"' in tag:
            continue
        assert f'nonce="{nonce}"' in tag, tag
    assert " style=" not in html and "<style" not in html  # style-src is 'self' only


# --- Buyback yield and negative revenue, as readers see them ------------------------------------

BUYBACK_DEFINITION = "tokens bought from the market in the last 30 days (held or burned)"


def test_buyback_yield_says_what_it_counts_on_the_token_page_and_the_screener(client):
    token_with("cake", buyback_yield=Decimal("0.05"))

    page = client.get("/tokens/cake/").content.decode()
    screener = client.get(SCREENER).content.decode()

    assert BUYBACK_DEFINITION in page  # the valuation row's hint
    assert "Tokens bought from the market in the last 30 days, held or burned" in page  # buybacks 30d
    assert re.search(r'<th scope="col" class="num" title="USD value of tokens bought from the market in the '
                     r'last 30 days \(held or burned\), annualised, ÷ market cap">', screener)  # fmt: skip


def test_negative_revenue_is_shown_and_the_multiples_and_yields_on_it_are_missing(client):
    from apps.tokens import revenue_reports, snapshots

    token = TokenFactory(slug="ethena", name="Ethena", symbol="ENA", category=Category.YIELD)
    PriceDayFactory(token=token, date=TODAY, price_usd=Decimal("1"), market_cap_usd=Decimal("1000000000"))
    for n in range(30):  # 29 days of +10 revenue (+5 to holders), then a day of −1,000 (−500)
        worst = n == 0
        RevenueDayFactory(
            token=token, date=TODAY - dt.timedelta(days=n), fees_usd=Decimal("100"),
            revenue_usd=Decimal("-1000") if worst else Decimal("10"),
            holders_revenue_usd=Decimal("-500") if worst else Decimal("5"),
        )  # fmt: skip
    snapshots.snapshots_recompute(token_ids=[token.pk])
    revenue_reports.revenue_reports_build(token_ids=[token.pk])

    page = client.get("/tokens/ethena/").content.decode()
    screener = client.get(SCREENER).content.decode()

    # −710 in 30 days is −8,638.33 a year; holders −355 is −4,319.17
    assert "−$8.6K" in page and "−$4.3K" in page and "−$8.6K" in screener
    for label in ("P/S", "P/S on FDV", "P/HR", "P/HR on FDV", "Holder yield"):
        assert re.search(
            rf'<th scope="row">{re.escape(label)}<span class="hint">[^<]*</span></th><td class="num">—</td>', page
        ), label
    # P/F stays: fees are positive (1e9 ÷ 36,500 a year)
    assert re.search(r'<th scope="row">P/F<span class="hint">[^<]*</span></th><td class="num">27,397×</td>', page)
    # Reports: November (19 × 10 − 1,000) and the quarter (29 × 10 − 1,000), negative, not hidden
    assert '<td class="num">−$810.00</td><td class="num">−$405.00</td>' in page
    assert '<td class="num">−$710.00</td><td class="num">−$355.00</td>' in page


def test_a_price_from_a_slower_tier_says_its_age_in_the_screener(client):
    """A token quoted once a day (the request budget's slower tier) shows when its price is
    from, and is marked stale past the threshold, like on its page."""
    now = dt.datetime.now(dt.UTC)
    token_with("fresh", price_source=Source.COINGECKO, price_as_of=now - dt.timedelta(minutes=10))
    token_with("tail", price_source=Source.COINGECKO, price_as_of=now - dt.timedelta(hours=20))

    html = client.get(SCREENER).content.decode()
    rows = {
        slug: row
        for row in re.findall(r"<tr>\s*<th scope=\"row\".*?</tr>", html, re.S)
        for slug in ["fresh", "tail"]
        if f"/{slug}/" in row
    }

    assert "Stale" in rows["tail"] and "Stale" not in rows["fresh"]
    assert f"as of {(now - dt.timedelta(hours=20)):%Y-%m-%d %H:%M} UTC" in rows["tail"]
