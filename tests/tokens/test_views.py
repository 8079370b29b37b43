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

from apps.tokens.models import AccrualEvent, Category, PriceDay, RevenueDay, Source, Token
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
    assert "<html" not in html and "<form" not in html and 'id="screener-form"' not in html
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
    assert 'id="chart-data"' in html and 'id="price-chart"' in html and 'id="revenue-chart"' in html
    assert "lightweight-charts.standalone.production.js" in html and "token-charts.js" in html


def test_unknown_token_is_404(client):
    response = client.get("/tokens/no-such-token/")

    assert response.status_code == 404
    assert "Open the screener" in response.content.decode()  # the site's own 404 page


def test_token_without_snapshot_or_history_shows_dashes_not_zeros(client):
    TokenFactory(slug="fresh", name="Fresh", symbol="FRSH")

    html = client.get("/tokens/fresh/").content.decode()

    assert "—" in html
    assert "$0" not in html and "0.0%" not in html and "0.0×" not in html
    assert 'id="chart-data"' not in html  # no chart without history


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
    small = {url: queries_for(client, url) for url in ("/", SCREENER, "/tokens/hyperliquid/", SCREENER + "?q=bulk")}

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
