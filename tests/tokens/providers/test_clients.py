"""CoinGeckoClient and DefiLlamaClient against a real HTTP server on 127.0.0.1 serving the
recorded responses: request shapes, paging, keys, all-or-nothing parsing."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.tokens.providers.base import (
    MarketQuote,
    ProviderDataError,
    ProviderFatalError,
    ProviderRetryableError,
)
from apps.tokens.providers.coingecko import CoinGeckoClient
from apps.tokens.providers.defillama import DefiLlamaClient
from apps.tokens.providers.http import ProviderHttpClient
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.providers.shared_state import Circuit, RateLimiter

from .conftest import fixture_bytes, fixture_json

CG_KEY = "CG-t3stK3yN0tR3al9f8e7d6c"
LLAMA_KEY = "llama0pr0k3y5ecret42"


@pytest.fixture
def http_options(clock, provider_name):
    return {
        "circuit": Circuit(provider_name, clock=clock.time),
        "sleep": clock.sleep,
        "clock": clock.time,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_attempts": 3,
    }


@pytest.fixture
def markets_rows():
    return fixture_json("coingecko/coins_markets.json")


def _queries(server):
    return [dict(request.args) for request, _response in server.log]


# --- CoinGecko ----------------------------------------------------------------------------


def test_markets_pages_until_a_short_page(server, http_options, markets_rows):
    server.expect_ordered_request("/api/v3/coins/markets").respond_with_json(markets_rows[:2])
    server.expect_ordered_request("/api/v3/coins/markets").respond_with_json(markets_rows[2:])
    client = CoinGeckoClient(server.url_for("/api/v3"), None, per_page=2, **http_options)

    quotes = client.markets(["hyperliquid", "bitcoin", "geodnet"])
    assert [q.coingecko_id for q in quotes] == ["hyperliquid", "bitcoin", "geodnet"]
    assert all(isinstance(q, MarketQuote) for q in quotes)
    queries = _queries(server)
    assert [q["page"] for q in queries] == ["1", "2"]
    assert queries[0] == {
        "vs_currency": "usd",
        "ids": "hyperliquid,bitcoin,geodnet",
        "per_page": "2",
        "page": "1",
        "price_change_percentage": "24h,7d,30d",
    }
    assert client.stats.pages == 2


def test_markets_a_full_page_with_every_id_asked_for_needs_no_second_page(server, http_options, markets_rows):
    server.expect_ordered_request("/coins/markets").respond_with_json(markets_rows)
    client = CoinGeckoClient(server.url_for("/"), None, per_page=3, **http_options)
    assert len(client.markets(["hyperliquid", "bitcoin", "geodnet"])) == 3
    assert len(server.log) == 1


def test_markets_a_full_page_missing_ids_is_followed_by_the_next(server, http_options, markets_rows):
    server.expect_ordered_request("/coins/markets").respond_with_json(markets_rows)
    server.expect_ordered_request("/coins/markets").respond_with_json([])
    client = CoinGeckoClient(server.url_for("/"), None, per_page=3, **http_options)
    assert len(client.markets(["hyperliquid", "bitcoin", "geodnet", "delisted-coin"])) == 3
    assert len(server.log) == 2


def test_markets_ids_in_chunks(server, http_options, markets_rows):
    by_ids = {"hyperliquid,bitcoin": markets_rows[:2], "geodnet": markets_rows[2:]}
    for ids, rows in by_ids.items():
        server.expect_ordered_request(
            "/coins/markets",
            query_string={
                "vs_currency": "usd",
                "ids": ids,
                "per_page": "250",
                "page": "1",
                "price_change_percentage": "24h,7d,30d",
            },
        ).respond_with_json(rows)
    client = CoinGeckoClient(server.url_for("/"), None, ids_per_request=2, **http_options)
    quotes = client.markets(["hyperliquid", "bitcoin", "hyperliquid", "geodnet", ""])
    assert [q.coingecko_id for q in quotes] == ["hyperliquid", "bitcoin", "geodnet"]
    assert len(server.log) == 2


def test_markets_without_ids_sends_nothing(server, http_options):
    assert CoinGeckoClient(server.url_for("/"), None, **http_options).markets([]) == []
    assert server.log == []


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda row: row.pop("symbol"), id="field-gone"),
        pytest.param(lambda row: row.update(current_price="97012"), id="number-as-string"),
    ],
)
def test_markets_a_bad_second_page_fails_the_whole_call(server, http_options, markets_rows, mutate):
    bad_page = copy.deepcopy(markets_rows[2:])
    mutate(bad_page[0])
    server.expect_ordered_request("/coins/markets").respond_with_json(markets_rows[:2])
    server.expect_ordered_request("/coins/markets").respond_with_json(bad_page)
    client = CoinGeckoClient(server.url_for("/"), None, per_page=2, **http_options)
    with pytest.raises(ProviderDataError, match=r"coins/markets\[0\]"):
        client.markets(["hyperliquid", "bitcoin", "geodnet"])  # no partial result comes back
    assert len(server.log) == 2  # data errors are not retried


def test_market_chart_request_and_daily_points(server, http_options):
    server.expect_request(
        "/coins/hyperliquid/market_chart", query_string={"vs_currency": "usd", "days": "30", "interval": "daily"}
    ).respond_with_data(fixture_bytes("coingecko/market_chart_hyperliquid.json"), content_type="application/json")
    client = CoinGeckoClient(server.url_for("/"), None, **http_options)

    points = client.market_chart("hyperliquid", days=30)
    assert len(points) == 6 and points[-1].date == dt.date(2026, 11, 19)
    assert points[-1].observed_at.hour == 14  # the last point is "now"
    assert client.price_history("hyperliquid", days=30) == points


def test_unknown_coin_is_fatal(server, http_options):
    server.expect_request("/coins/no-such-coin/market_chart").respond_with_data(
        fixture_bytes("coingecko/error_404_coin_not_found.json"), status=404, content_type="application/json"
    )
    client = CoinGeckoClient(server.url_for("/"), None, **http_options)
    with pytest.raises(ProviderFatalError, match="coin not found"):
        client.price_history("no-such-coin")
    assert len(server.log) == 1


def test_coins_list(server, http_options):
    server.expect_request("/coins/list", query_string={"include_platform": "true"}).respond_with_data(
        fixture_bytes("coingecko/coins_list.json"), content_type="application/json"
    )
    listings = CoinGeckoClient(server.url_for("/"), None, **http_options).coins_list()
    assert [c.id for c in listings][:3] == ["bitcoin", "geodnet", "hyperliquid"]
    assert listings[1].platforms["solana"] == "7JA5eZdCzztSfQbJvS8aVVxMFfd81Rs9VvwnocV1mKHu"


def test_demo_key_in_the_header_never_in_a_url_or_a_log(server, http_options, markets_rows, caplog):
    caplog.set_level(logging.DEBUG)
    server.expect_oneshot_request("/api/v3/coins/markets").respond_with_data(
        fixture_bytes("coingecko/error_429.json"), status=429, headers={"Retry-After": "2"}
    )
    server.expect_request("/api/v3/coins/markets").respond_with_json(markets_rows)
    server.expect_request("/api/v3/coins/gone/market_chart").respond_with_data(
        fixture_bytes("coingecko/error_404_coin_not_found.json"), status=404
    )
    client = CoinGeckoClient(server.url_for("/api/v3"), CG_KEY, **http_options)

    client.markets(["hyperliquid", "bitcoin", "geodnet"])
    with pytest.raises(ProviderFatalError) as caught:
        client.market_chart("gone", 7)

    assert len(server.log) == 3
    for request, _response in server.log:
        assert request.headers.get("x-cg-demo-api-key") == CG_KEY
        assert "x-cg-pro-api-key" not in request.headers
        assert CG_KEY not in request.url
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the retry was logged …
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # … and httpx's request lines …
    assert all(CG_KEY not in r.getMessage() for r in caplog.records)  # … without the key
    assert CG_KEY not in str(caught.value)


def test_pro_host_gets_the_pro_header(server, http_options):
    server.expect_request("/api/v3/coins/list").respond_with_json([])
    http = ProviderHttpClient("coingecko", server.url_for("/api/v3"), headers={}, **http_options)
    client = CoinGeckoClient("https://pro-api.coingecko.com/api/v3", CG_KEY, http=http)
    assert client.coins_list() == []
    request = server.log[0][0]
    assert request.headers.get("x-cg-pro-api-key") == CG_KEY
    assert "x-cg-demo-api-key" not in request.headers


def test_no_key_no_header(server, http_options):
    server.expect_request("/coins/list").respond_with_json([])
    CoinGeckoClient(server.url_for("/"), "", **http_options).coins_list()
    headers = server.log[0][0].headers
    assert "x-cg-demo-api-key" not in headers and "x-cg-pro-api-key" not in headers


@override_settings(
    COINGECKO_BASE_URL="https://pro-api.coingecko.com/api/v3",
    COINGECKO_API_KEY=CG_KEY,
    COINGECKO_RATE_LIMIT_PER_MINUTE=45,
    REDIS_URL="",
)
def test_coingecko_from_settings():
    client = CoinGeckoClient.from_settings()
    try:
        assert client.http._client.headers["x-cg-pro-api-key"] == CG_KEY
        assert str(client.http._client.base_url) == "https://pro-api.coingecko.com/api/v3/"
        assert isinstance(client.http.rate_limit, RateLimiter) and client.http.rate_limit.per_minute == 45
        assert client.http.timeout.connect == 5.0 and client.http.timeout.read == 20.0
    finally:
        client.close()


def test_coingecko_rate_limit_defaults_to_30_a_minute(settings):
    del settings.COINGECKO_RATE_LIMIT_PER_MINUTE
    settings.REDIS_URL = ""
    client = CoinGeckoClient.from_settings()
    try:
        assert client.http.rate_limit.per_minute == 30
        assert client.http.circuit.redis_url is None
    finally:
        client.close()


def test_from_settings_shares_state_through_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    client = CoinGeckoClient.from_settings()
    try:
        assert client.http.circuit.redis_url == settings.REDIS_URL
        assert client.http.rate_limit.redis_url == settings.REDIS_URL
        assert client.http.quota.redis_url == settings.REDIS_URL
        assert client.http.quota.limit == settings.COINGECKO_MONTHLY_QUOTA
    finally:
        client.close()


# --- DefiLlama ----------------------------------------------------------------------------


def _serve_summary(server, slug, data_type, *, prefix="", status=200, name=None, content_type="application/json"):
    name = name or f"defillama/summary_fees_{slug}_{data_type}.json"
    server.expect_request(f"{prefix}/summary/fees/{slug}", query_string={"dataType": data_type}).respond_with_data(
        fixture_bytes(name), status=status, content_type=content_type
    )


def test_revenue_history_merges_three_series(server, http_options):
    for data_type in ("dailyFees", "dailyRevenue", "dailyHoldersRevenue"):
        _serve_summary(server, "hyperliquid", data_type)
    points = DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("hyperliquid")
    assert len(points) == 5 and len(server.log) == 3
    assert points[0].date == dt.date(2026, 11, 14)
    assert points[0].fees == points[0].revenue == Decimal("3120456")
    assert points[0].holders_revenue == Decimal("3026842.32")


@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "defillama/error_400_fees_not_found.txt"), (404, "defillama/error_404_data_not_found.txt")],
)
def test_holders_revenue_not_tracked_is_none(server, http_options, status, name):
    _serve_summary(server, "hyperliquid", "dailyFees")
    _serve_summary(server, "hyperliquid", "dailyRevenue")
    _serve_summary(server, "hyperliquid", "dailyHoldersRevenue", status=status, name=name, content_type="text/plain")
    points = DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("hyperliquid")
    assert len(points) == 5
    assert all(p.holders_revenue is None and p.fees is not None for p in points)
    assert len(server.log) == 3  # the 4xx was not retried


def test_unknown_slug_is_fatal(server, http_options):
    _serve_summary(
        server,
        "no-such-protocol",
        "dailyFees",
        status=400,
        name="defillama/error_400_protocol_not_found.txt",
        content_type="text/plain",
    )
    with pytest.raises(ProviderFatalError, match="unknown slug 'no-such-protocol': Protocol not found") as caught:
        DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("no-such-protocol")
    assert caught.value.status == 400
    assert len(server.log) == 1


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda body: body.pop("totalDataChart"), id="field-gone"),
        pytest.param(lambda body: body["totalDataChart"][2].__setitem__(1, "2987654.25"), id="number-as-string"),
        pytest.param(lambda body: body["totalDataChart"][3].__setitem__(0, "2026-11-17"), id="date-as-string"),
    ],
)
def test_a_bad_series_fails_the_whole_revenue_history(server, http_options, mutate):
    body = fixture_json("defillama/summary_fees_hyperliquid_dailyRevenue.json")
    mutate(body)
    _serve_summary(server, "hyperliquid", "dailyFees")
    server.expect_request("/summary/fees/hyperliquid", query_string={"dataType": "dailyRevenue"}).respond_with_json(
        body
    )
    _serve_summary(server, "hyperliquid", "dailyHoldersRevenue")
    with pytest.raises(ProviderDataError, match=r"dataType=dailyRevenue"):
        DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("hyperliquid")
    assert len(server.log) == 2  # stopped at the bad series, nothing retried


def test_a_negative_day_does_not_fail_the_protocols_history(server, http_options):
    for data_type in ("dailyFees", "dailyRevenue", "dailyHoldersRevenue"):
        _serve_summary(server, "ethena-usde", data_type)
    points = DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("ethena-usde")
    assert [p.date for p in points] == [dt.date(2026, 11, d) for d in range(14, 19)]
    negative = points[2]
    assert (negative.fees, negative.revenue, negative.holders_revenue) == (
        Decimal("-132456.25"),
        Decimal("-26491.25"),
        Decimal("-13245.63"),
    )


@pytest.mark.django_db
def test_a_protocol_with_a_negative_day_keeps_updating_and_stores_it(server, http_options):
    from apps.tokens import history
    from apps.tokens.models import RevenueDay, SyncRun, Token

    token = Token.objects.create(slug="ethena", symbol="ENA", name="Ethena", defillama_slug="ethena-usde")
    for data_type in ("dailyFees", "dailyRevenue", "dailyHoldersRevenue"):
        _serve_summary(server, "ethena-usde", data_type)
    result = history.revenue_refresh(provider=DefiLlamaClient(server.url_for("/"), **http_options), backfill=True)
    assert result.run.status == SyncRun.Status.SUCCEEDED, result.run.error
    stored = RevenueDay.objects.get(token=token, date=dt.date(2026, 11, 16))
    assert (stored.fees_usd, stored.revenue_usd, stored.holders_revenue_usd) == (
        Decimal("-132456.25"),
        Decimal("-26491.25"),
        Decimal("-13245.63"),
    )
    assert RevenueDay.objects.filter(token=token).count() == 5  # the days after it too


def test_internal_error_is_retried(server, http_options):
    _serve_summary(
        server,
        "hyperliquid",
        "dailyFees",
        status=500,
        name="defillama/error_500_internal.txt",
        content_type="text/plain",
    )
    with pytest.raises(ProviderRetryableError, match="Internal Error"):
        DefiLlamaClient(server.url_for("/"), **http_options).revenue_history("hyperliquid")
    assert len(server.log) == 3  # max_attempts


def test_overview(server, http_options):
    server.expect_request(
        "/overview/fees",
        query_string={
            "dataType": "dailyHoldersRevenue",
            "excludeTotalDataChart": "true",
            "excludeTotalDataChartBreakdown": "true",
        },
    ).respond_with_data(
        fixture_bytes("defillama/overview_fees_dailyHoldersRevenue.json"), content_type="application/json"
    )
    client = DefiLlamaClient(server.url_for("/"), **http_options)
    assert client.overview("dailyHoldersRevenue") == {"hyperliquid": Decimal("3202197"), "geodnet": Decimal("12187")}
    with pytest.raises(ValueError):
        client.overview("dailyVolume")


def test_overview_rows_keep_nulls(server, http_options):
    server.expect_request("/overview/fees").respond_with_data(
        fixture_bytes("defillama/overview_fees_dailyFees.json"), content_type="application/json"
    )
    rows = DefiLlamaClient(server.url_for("/"), **http_options).overview_rows("dailyFees")
    by_slug = {r.slug: r for r in rows}
    assert by_slug["fresh-listing"].total24h is None
    assert by_slug["aave-v3"].defillama_id == "1599"


def test_latest_totals_give_each_protocols_last_two_days_per_series(server, http_options):
    for data_type, fixture in (
        ("dailyFees", "overview_fees_dailyFees.json"),
        ("dailyRevenue", "overview_fees_dailyFees.json"),  # any body of the right shape
        ("dailyHoldersRevenue", "overview_fees_dailyHoldersRevenue.json"),
    ):
        server.expect_request(
            "/overview/fees",
            query_string={
                "dataType": data_type,
                "excludeTotalDataChart": "true",
                "excludeTotalDataChartBreakdown": "true",
            },
        ).respond_with_data(fixture_bytes(f"defillama/{fixture}"), content_type="application/json")
    totals = DefiLlamaClient(server.url_for("/"), **http_options).latest_totals()
    assert totals["hyperliquid"].day(0) == (Decimal("3301234"), Decimal("3301234"), Decimal("3202197"))
    assert totals["hyperliquid"].day(1) == (Decimal("3070148"), Decimal("3070148"), Decimal("2978043"))
    assert totals["aave-v3"].holders_revenue == (None, None)  # not in the holders revenue overview
    assert totals["fresh-listing"].day(0) == (None, None, None)
    assert len(server.log) == 3


def test_protocols(server, http_options):
    server.expect_request("/protocols").respond_with_data(
        fixture_bytes("defillama/protocols.json"), content_type="application/json"
    )
    protocols = DefiLlamaClient(server.url_for("/"), **http_options).protocols()
    assert [p.slug for p in protocols] == ["hyperliquid", "pump.fun", "geodnet"]


def test_pro_key_goes_in_the_path_and_never_in_a_log(server, http_options, caplog):
    caplog.set_level(logging.DEBUG)
    prefix = f"/{LLAMA_KEY}/api"
    server.expect_request(f"{prefix}/protocols").respond_with_data(
        fixture_bytes("defillama/protocols.json"), content_type="application/json"
    )
    _serve_summary(server, "gone", "dailyFees", prefix=prefix, status=500, name="defillama/error_500_internal.txt")
    client = DefiLlamaClient(server.url_for("/"), LLAMA_KEY, **http_options)

    assert len(client.protocols()) == 3
    with pytest.raises(ProviderRetryableError) as caught:
        client.revenue_history("gone")
    assert server.log[0][0].path == f"{prefix}/protocols"
    assert LLAMA_KEY not in str(caught.value)
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]  # not the test server's log
    assert any("HTTP Request" in r.getMessage() for r in ours)  # httpx logged the URLs …
    assert all(LLAMA_KEY not in r.getMessage() for r in ours)  # … redacted


@pytest.mark.parametrize(("per_minute", "expected"), [(120, 120), (0, None)])
def test_defillama_from_settings_with_a_key(settings, per_minute, expected):
    settings.DEFILLAMA_BASE_URL = "https://api.llama.fi"
    settings.DEFILLAMA_API_KEY = LLAMA_KEY
    settings.DEFILLAMA_RATE_LIMIT_PER_MINUTE = per_minute
    settings.REDIS_URL = ""
    client = DefiLlamaClient.from_settings()
    try:
        assert str(client.http._client.base_url) == f"https://pro-api.llama.fi/{LLAMA_KEY}/api/"
        limit = client.http.rate_limit
        assert (limit.per_minute if limit else None) == expected  # 0 turns the limit off
    finally:
        client.close()


# --- Same interface as the sample provider -----------------------------------------------


@pytest.mark.parametrize("method", ["markets", "price_history", "revenue_history", "protocols"])
def test_live_clients_share_the_sample_providers_method_names(method):
    assert callable(getattr(SampleProvider, method))
    live = CoinGeckoClient if method in {"markets", "price_history"} else DefiLlamaClient
    assert callable(getattr(live, method))
