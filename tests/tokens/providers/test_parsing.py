"""Parsing of recorded responses (the real shapes of PROVIDERS.md) and classification of
every recorded error shape. No network: httpx.MockTransport stands in for the server."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.tokens.providers import coingecko, defillama
from apps.tokens.providers.base import (
    CoinListing,
    ProviderDataError,
    ProviderFatalError,
    ProviderRetryableError,
)
from apps.tokens.providers.http import (
    Circuit,
    ProviderHttpClient,
    error_summary,
    parse_retry_after,
)

from .conftest import fixture_bytes, fixture_json

UTC = dt.UTC


# --- CoinGecko ----------------------------------------------------------------------------


def test_markets_page_with_nulls_and_integers():
    quotes = {q.coingecko_id: q for q in coingecko.parse_markets(fixture_json("coingecko/coins_markets.json"))}
    assert list(quotes) == ["hyperliquid", "bitcoin", "geodnet"]

    btc = quotes["bitcoin"]
    assert btc.symbol == "BTC"
    assert btc.price == Decimal("97012")  # a JSON integer
    assert btc.max_supply == Decimal("21000000")
    assert btc.last_updated == dt.datetime(2026, 11, 19, 14, 22, 40, 112000, tzinfo=UTC)

    geod = quotes["geodnet"]
    assert geod.market_cap is None and geod.max_supply is None  # nulls stay None
    assert geod.circulating_supply is None  # sent as 0: not known
    assert geod.fdv == Decimal("152233000")
    assert geod.price == Decimal("0.152233")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda row: row.pop("symbol"), "'symbol' is missing"),
        (lambda row: row.pop("last_updated"), "ISO-8601"),
        (lambda row: row.update(current_price="97012.5"), "expected a number, got str"),
        (lambda row: row.update(market_cap=True), "expected a number, got bool"),
        (lambda row: row.update(id=None), "'id' must be a non-empty string"),
    ],
)
def test_markets_reject_the_whole_page_on_one_bad_row(mutate, message):
    rows = copy.deepcopy(fixture_json("coingecko/coins_markets.json"))
    mutate(rows[1])
    with pytest.raises(ProviderDataError, match=message):
        coingecko.parse_markets(rows)


def test_zero_market_cap_fdv_and_supplies_are_read_as_missing():
    """CoinGecko sends 0 for what it does not know; a volume of 0 is a real 0."""
    row = {
        "id": "young",
        "symbol": "yng",
        "name": "Young",
        "image": None,
        "last_updated": "2026-11-19T14:22:40.112Z",
        "current_price": 0.5,
        "market_cap": 0,
        "fully_diluted_valuation": 0.0,
        "total_volume": 0,
        "circulating_supply": 0,
        "total_supply": 0.0,
        "max_supply": 0,
    }
    (quick,) = coingecko.parse_markets([row])  # the one-pass reader
    strict = coingecko._quote(row, "row")  # the strict one, for rows the first declines

    for quote in (quick, strict):
        assert (quote.market_cap, quote.fdv) == (None, None)
        assert (quote.circulating_supply, quote.total_supply, quote.max_supply) == (None, None, None)
        assert quote.volume == Decimal(0) and quote.price == Decimal("0.5")


def test_zero_market_cap_in_a_market_chart_is_read_as_missing():
    chart = fixture_json("coingecko/market_chart_hyperliquid.json")
    chart["market_caps"][0][1] = 0
    chart["total_volumes"][0][1] = 0

    points = coingecko.parse_market_chart("hyperliquid", chart)

    assert points[0].market_cap is None and points[0].volume == Decimal(0)
    assert points[1].market_cap == Decimal("13183456789")


def test_markets_reject_a_non_array():
    with pytest.raises(ProviderDataError, match="expected an array"):
        coingecko.parse_markets(fixture_json("coingecko/error_429.json"))


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_number = st.one_of(
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
)
_valid_row = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["bitcoin", "hyperliquid"]),
        "symbol": st.sampled_from(["btc", "Hype"]),
        "name": st.just("Bitcoin"),
        "image": st.one_of(st.none(), st.just("https://x/b.png")),
        "last_updated": st.sampled_from(["2026-11-19T14:22:40.112Z", "2026-11-19T14:22:40+00:00"]),
        **{key: _number for key in coingecko._MARKET_NUMBERS},
    }
)


@st.composite
def _spoiled_row(draw):
    """A well-formed row with one field spoiled or gone."""
    row = draw(_valid_row)
    key = draw(st.sampled_from(sorted(row)))
    if draw(st.booleans()):
        del row[key]
    else:
        row[key] = draw(_value)
    return row


@settings(max_examples=200)
@given(row=_valid_row)
def test_a_well_formed_market_row_is_read_in_one_pass_as_the_strict_reader_reads_it(row):
    quick = coingecko._plain_quote(row, {})
    assert quick is not None and quick == coingecko._quote(row, "row")


@settings(max_examples=400)
@given(row=st.one_of(_spoiled_row(), _value))
def test_whatever_the_one_pass_accepts_the_strict_reader_reads_the_same(row):
    """parse_markets takes plainly well-formed rows in one pass (_plain_quote) and leaves the
    rest to the strict reader, which names the fault."""
    quick = coingecko._plain_quote(row, {})
    if quick is not None:
        assert quick == coingecko._quote(row, "row")


def test_provider_numbers_are_read_exactly_from_their_text():
    body = b'[{"id": "a", "symbol": "a", "name": "A", "last_updated": "2026-11-19T14:22:40.112Z",'
    body += b' "current_price": 0.12345678901234567890123, "market_cap": 12, "total_volume": 1e-7}]'
    client = ProviderHttpClient(
        "coingecko",
        base_url="http://provider.test",
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)),
    )
    (quote,) = coingecko.parse_markets(client.get_json("/coins/markets"))
    assert quote.price == Decimal("0.12345678901234567890123")  # no float in between
    assert quote.market_cap == Decimal(12) and quote.volume == Decimal("1e-7")


def test_market_chart_daily_points_last_is_now():
    points = coingecko.parse_market_chart("hyperliquid", fixture_json("coingecko/market_chart_hyperliquid.json"))
    assert [p.date for p in points] == [dt.date(2026, 11, d) for d in range(14, 20)]
    assert points[0].observed_at == dt.datetime(2026, 11, 14, tzinfo=UTC)
    assert points[0].price == Decimal("38.91")
    assert points[0].market_cap == Decimal("13006123456")
    # The last point is "now", not midnight, and wins over the 00:00 point of that date.
    last = points[-1]
    assert last.observed_at == dt.datetime(2026, 11, 19, 14, 23, 7, 512000, tzinfo=UTC)
    assert last.price == Decimal("41.2731")
    assert last.volume == Decimal("312456789.4")


def test_market_chart_rejects_a_broken_pair():
    chart = fixture_json("coingecko/market_chart_hyperliquid.json")
    chart["prices"][2] = [chart["prices"][2][0]]
    with pytest.raises(ProviderDataError, match=r"prices\[2\]"):
        coingecko.parse_market_chart("hyperliquid", chart)


def test_coins_list_with_platforms():
    listings = {c.id: c for c in coingecko.parse_coins_list(fixture_json("coingecko/coins_list.json"))}
    assert listings["bitcoin"] == CoinListing(id="bitcoin", symbol="BTC", name="Bitcoin", platforms={})
    assert listings["geodnet"].platforms["polygon-pos"] == "0xac0f66379a6d7801d7726d5a943356a172549adb"
    assert listings["hyperliquid"].platforms == {"hyperliquid": "0x0d01dc56dcaaca66ad901c959b4011ec", "hyperevm": None}
    assert listings["wrapped-oddity"].platforms == {}  # CoinGecko's {"": ""} placeholder


def test_coins_list_rejects_a_numeric_address():
    rows = fixture_json("coingecko/coins_list.json")
    rows[1]["platforms"]["solana"] = 12
    with pytest.raises(ProviderDataError, match="platforms"):
        coingecko.parse_coins_list(rows)


@pytest.mark.parametrize(
    ("base_url", "header"),
    [
        ("https://pro-api.coingecko.com/api/v3", "x-cg-pro-api-key"),
        ("https://api.coingecko.com/api/v3", "x-cg-demo-api-key"),
        ("http://127.0.0.1:9999/api/v3", "x-cg-demo-api-key"),
    ],
)
def test_coingecko_key_header_follows_the_host(base_url, header):
    assert coingecko.auth_headers(base_url, "CG-secret") == {header: "CG-secret"}
    assert coingecko.auth_headers(base_url, "") == {}
    assert coingecko.auth_headers(base_url, None) == {}


# --- DefiLlama ----------------------------------------------------------------------------


def test_overview_fees_protocol_rows():
    rows = {
        r.slug: r for r in defillama.parse_overview("dailyFees", fixture_json("defillama/overview_fees_dailyFees.json"))
    }
    assert set(rows) == {"hyperliquid", "pump.fun", "aave-v3", "geodnet", "fresh-listing"}
    hl = rows["hyperliquid"]
    assert (hl.name, hl.defillama_id, hl.category) == ("Hyperliquid", "5507", "Derivatives")
    assert hl.total24h == Decimal("3301234")
    assert rows["pump.fun"].total24h == Decimal("1423456.5")
    assert rows["fresh-listing"].total24h is None and rows["fresh-listing"].total30d is None


def test_overview_rejects_a_string_total():
    body = fixture_json("defillama/overview_fees_dailyFees.json")
    body["protocols"][0]["total24h"] = "3301234"
    with pytest.raises(ProviderDataError, match="total24h"):
        defillama.parse_overview("dailyFees", body)


def test_overview_rejects_missing_protocols():
    body = fixture_json("defillama/overview_fees_dailyFees.json")
    del body["protocols"]
    with pytest.raises(ProviderDataError, match="protocols"):
        defillama.parse_overview("dailyFees", body)


def test_summary_fees_series_merge():
    series = {
        data_type: defillama.parse_daily_series(
            "hyperliquid", data_type, fixture_json(f"defillama/summary_fees_hyperliquid_{data_type}.json")
        )
        for data_type in defillama.DATA_TYPES
    }
    points = defillama.merge_revenue(
        "hyperliquid",
        fees=series["dailyFees"],
        revenue=series["dailyRevenue"],
        holders_revenue=series["dailyHoldersRevenue"],
    )
    assert [p.date for p in points] == [dt.date(2026, 11, d) for d in range(14, 19)]
    first = points[0]
    assert first.fees == Decimal("3120456")
    assert first.holders_revenue == Decimal("3026842.32")  # 97% to buybacks
    assert points[1].fees == Decimal("2987654.25")


def test_summary_fees_series_since_a_day_keeps_only_those_days():
    body = fixture_json("defillama/summary_fees_hyperliquid_dailyFees.json")
    series = defillama.parse_daily_series("hyperliquid", "dailyFees", body, since=dt.date(2026, 11, 17))
    assert sorted(series) == [dt.date(2026, 11, 17), dt.date(2026, 11, 18)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("12.5", "expected a number, got str"),
        (True, "expected a number, got bool"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
    ],
)
def test_a_bad_point_fails_the_series_even_before_the_days_kept(bad, message):
    body = fixture_json("defillama/summary_fees_hyperliquid_dailyFees.json")
    body["totalDataChart"][0][1] = bad  # the oldest point, which `since` would skip
    with pytest.raises(ProviderDataError, match=message):
        defillama.parse_daily_series("hyperliquid", "dailyFees", body, since=dt.date(2026, 11, 18))


def test_a_negative_day_is_kept_as_a_negative_amount():
    """Revenue nets out refunds and incentives: a negative day is data, not a broken series."""
    body = fixture_json("defillama/summary_fees_ethena-usde_dailyRevenue.json")
    series = defillama.parse_daily_series("ethena-usde", "dailyRevenue", body)
    assert len(series) == 5
    assert series[dt.date(2026, 11, 16)] == Decimal("-26491.25")
    assert series[dt.date(2026, 11, 18)] == Decimal("91135.6")


def test_protocols_list():
    protocols = {p.slug: p for p in defillama.parse_protocols(fixture_json("defillama/protocols.json"))}
    assert protocols["hyperliquid"].gecko_id == "hyperliquid"
    assert protocols["pump.fun"].symbol == "PUMP"
    assert protocols["geodnet"].gecko_id is None  # often null


def test_keyed_base_url_puts_the_key_in_the_path():
    assert defillama.keyed_base_url("https://api.llama.fi", None) == "https://api.llama.fi"
    assert defillama.keyed_base_url("https://api.llama.fi", "KEY123") == "https://pro-api.llama.fi/KEY123/api"
    assert defillama.keyed_base_url("https://pro-api.llama.fi/", "KEY123") == "https://pro-api.llama.fi/KEY123/api"


# --- Error bodies and Retry-After -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "message", "code"),
    [
        ("coingecko/error_429.json", "application/json", "You've exceeded the Rate Limit", 429),
        ("coingecko/error_401_10002.json", "application/json", "API Key Missing", 10002),
        ("coingecko/error_400_10010.json", "application/json", "change your root URL", 10010),
        ("coingecko/error_400_10011.json", "application/json", "Demo API key", 10011),
        ("coingecko/error_404_coin_not_found.json", "application/json", "coin not found", None),
        ("coingecko/cloudflare_429.html", "text/html; charset=UTF-8", "HTML page: Access denied", None),
        ("defillama/error_400_protocol_not_found.txt", "text/plain", "Protocol not found", None),
        ("defillama/error_500_internal.txt", "text/plain", "Internal Error", None),
        ("defillama/error_404_data_not_found.txt", "text/plain", "Data not found", None),
    ],
)
def test_error_summary_reads_every_recorded_shape(name, content_type, message, code):
    summary, error_code = error_summary(fixture_bytes(name), content_type)
    assert message in summary
    assert len(summary) <= 200
    assert error_code == code


def test_retry_after_seconds_and_http_date():
    now = 1_795_000_000.0
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after(" 119 ", now=now) == 119
    http_date = "Mon, 16 Nov 2026 08:27:25 GMT"  # 45 s after ``now``
    assert parse_retry_after(http_date, now=dt.datetime(2026, 11, 16, 8, 26, 40, tzinfo=UTC).timestamp()) == 45
    assert parse_retry_after(http_date, now=now + 10**7) == 0  # a date in the past: no wait
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


# --- Classification of responses (MockTransport, one attempt) -------------------------------


def _client(handler, provider_name, **kwargs) -> ProviderHttpClient:
    options = {
        "circuit": Circuit(provider_name),
        "sleep": lambda s: None,
        "max_attempts": 1,
        "transport": httpx.MockTransport(handler),
    }
    options.update(kwargs)
    return ProviderHttpClient(provider_name, "https://provider.invalid/api", headers={}, **options)


def _respond(status, name=None, content_type="application/json", body=None):
    content = body if body is not None else fixture_bytes(name)
    return lambda request: httpx.Response(status, content=content, headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("status", "name", "content_type", "exc_type", "fragment"),
    [
        (429, "coingecko/error_429.json", "application/json", ProviderRetryableError, "HTTP 429"),
        (429, "coingecko/cloudflare_429.html", "text/html", ProviderRetryableError, "HTML page"),
        (200, "coingecko/cloudflare_429.html", "text/html", ProviderRetryableError, "HTTP 200: HTML page"),
        (200, "coingecko/cloudflare_429.html", "application/json", ProviderRetryableError, "HTML page"),
        (403, "coingecko/cloudflare_429.html", "text/html", ProviderRetryableError, "HTTP 403"),
        (500, "defillama/error_500_internal.txt", "text/plain", ProviderRetryableError, "Internal Error"),
        (502, None, "text/plain", ProviderRetryableError, "HTTP 502"),
        (408, None, "text/plain", ProviderRetryableError, "HTTP 408"),
        (401, "coingecko/error_401_10002.json", "application/json", ProviderFatalError, "API Key Missing"),
        (400, "coingecko/error_400_10010.json", "application/json", ProviderFatalError, "pro-api"),
        (404, "coingecko/error_404_coin_not_found.json", "application/json", ProviderFatalError, "coin not found"),
        (400, "defillama/error_400_protocol_not_found.txt", "text/plain", ProviderFatalError, "Protocol not found"),
        (404, "defillama/error_404_data_not_found.txt", "text/plain", ProviderFatalError, "Data not found"),
    ],
)
def test_classification(provider_name, status, name, content_type, exc_type, fragment):
    body = None if name else b"upstream trouble"
    client = _client(_respond(status, name, content_type, body), provider_name)
    with pytest.raises(exc_type, match=fragment) as caught:
        client.get_json("/anything")
    assert caught.value.status == status
    assert client.stats.attempts == 1


def test_fatal_error_carries_the_provider_code(provider_name):
    client = _client(_respond(401, "coingecko/error_401_10002.json"), provider_name)
    with pytest.raises(ProviderFatalError) as caught:
        client.get_json("/coins/markets")
    assert (caught.value.status, caught.value.error_code, caught.value.path) == (401, 10002, "/coins/markets")


@pytest.mark.parametrize("body", [b'[{"id": "bitcoin", "symbol": "bt', b"", b"null garbage"])
def test_truncated_json_is_a_data_error(provider_name, body):
    client = _client(_respond(200, body=body), provider_name, max_attempts=3)
    with pytest.raises(ProviderDataError, match="truncated or invalid JSON"):
        client.get_json("/coins/markets")
    assert client.stats.attempts == 1  # not retried


def test_timeouts_are_explicit_on_every_call(provider_name):
    seen = []

    def handler(request):
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    client = _client(handler, provider_name, connect_timeout=3.0, read_timeout=7.0)
    client.get_json("/a")
    client.post_json("/b", {"type": "metaAndAssetCtxs"})
    assert len(seen) == 2
    for timeout in seen:
        assert timeout["connect"] == 3.0 and timeout["read"] == 7.0


def test_backoff_is_full_jitter_and_capped(provider_name):
    """The client's backoff is tenacity's full jitter, uniform(0, min(cap, base × 2^n)) before
    the n-th retry; it reads the retry's attempt number (1 for the first attempt)."""
    client = _client(_respond(200, body=b"{}"), provider_name, backoff_base=1.0, backoff_cap=8.0)

    def before_retry(n):
        return client.backoff(SimpleNamespace(attempt_number=n + 1))

    for retry in range(12):
        bound = min(8.0, 2**retry)
        samples = [before_retry(retry) for _ in range(50)]
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound / 2  # the whole range is used, not a fixed fraction
    assert len({round(before_retry(5), 6) for _ in range(20)}) > 1  # jittered, not fixed
