"""/api/v1/ read endpoints: shapes, filters, as_of, paging, ETag/304, CSV, bad input, flat queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.editorial import services
from apps.editorial.models import ListEntry, TopList
from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import LatestRating, Rating
from apps.tokens.models import Category, MetricSnapshot, Token
from apps.tokens.selectors import data_changed
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

pytestmark = pytest.mark.django_db
API = "/api/v1"


def rate(token: Token, day: dt.date = TODAY, *, latest: bool = True, score: str = "50.0", grade: str = "C") -> Rating:
    rating = Rating.objects.create(
        token=token,
        date=day,
        methodology_version=METHODOLOGY.version,
        inputs={key: None for key in METHODOLOGY.input_keys},
        components={},
        investor_score=Decimal(score),
        investor_grade=grade,
        trader_score=Decimal("40.0"),
        trader_grade="C",
        signal="neutral",
        fingerprint=f"{token.pk}-{day}",
        computed_at=AS_OF,
    )
    if latest:
        LatestRating.objects.update_or_create(
            token=token, methodology_version=rating.methodology_version, defaults={"rating": rating, "date": day}
        )
    return rating


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()["results"]]


def grow(count: int, prefix: str = "t") -> list[Token]:
    """``count`` tokens with a latest snapshot and a rating each, in a few bulk inserts."""
    tokens = Token.objects.bulk_create(
        Token(slug=f"{prefix}-{n:05d}", symbol=f"{prefix.upper()}{n}", name=f"{prefix} {n}", category=Category.LENDING)
        for n in range(count)
    )
    snapshots = MetricSnapshot.objects.bulk_create(MetricSnapshotFactory.build(token=token) for token in tokens)
    for token, snapshot in zip(tokens, snapshots, strict=True):
        token.latest_snapshot = snapshot
    Token.objects.bulk_update(tokens, ["latest_snapshot"])
    chain = ChainFactory(slug="ethereum")
    chain.tokens.add(*tokens)
    for token in tokens:
        rate(token)
    return tokens


def test_token_list_has_ids_figures_with_freshness_and_numbers_as_strings(api):
    snapshot = MetricSnapshotFactory(token__slug="hype", token__chains=[ChainFactory(slug="hyperliquid")])
    response = api.get(f"{API}/tokens/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["slug"] == "hype"
    assert row["coingecko_id"] == "cg-hype" and row["defillama_slug"] == "dl-hype"
    assert row["chains"] == [{"slug": "hyperliquid", "name": "Hyperliquid"}]
    price = row["snapshot"]["price"]
    assert price["price_usd"] == str(snapshot.price_usd.quantize(Decimal("1e-18")))
    assert price["source"] == "coingecko" and price["as_of"].startswith("2026-11-20T00:04")
    assert price["stale"] is True  # AS_OF is long past the two-hour threshold
    assert row["snapshot"]["revenue"]["source"] == "defillama"
    assert row["snapshot"]["valuation"]["ps"] is not None


def test_sample_figures_are_labelled_and_never_stale(api):
    from apps.tokens.models import DataSet

    DataSet.objects.create(pk=1, mode=DataSet.Mode.SAMPLE, recorded_at=AS_OF)
    MetricSnapshotFactory(price_source="sample", revenue_source="sample")
    response = api.get(f"{API}/tokens/")
    body = response.json()
    assert body["data_set"] == {"mode": "sample", "sample": True}
    assert response["Accrual-Data-Set"] == "sample"
    snapshot = body["results"][0]["snapshot"]
    assert snapshot["price"]["stale"] is False and snapshot["valuation"]["source"] == "sample"
    token = Token.objects.get()
    rate(token)
    rating = api.get(f"{API}/tokens/{token.slug}/rating/").json()
    assert rating["source"] == "sample" and rating["stale"] is False


def test_token_list_filters_search_category_chain_and_ranges(api):
    eth = ChainFactory(slug="ethereum")
    MetricSnapshotFactory(token__slug="aave", token__name="Aave", token__category=Category.LENDING, token__chains=[eth])
    MetricSnapshotFactory(token__slug="uni", token__name="Uniswap", market_cap_usd=Decimal("10"))
    MetricSnapshotFactory(token__slug="jup", token__name="Jupiter", holder_yield=Decimal("0.2"))
    assert slugs(api.get(f"{API}/tokens/", {"search": "unis"})) == ["uni"]
    assert slugs(api.get(f"{API}/tokens/", {"category": "lending"})) == ["aave"]
    assert slugs(api.get(f"{API}/tokens/", {"chain": "ethereum"})) == ["aave"]
    assert slugs(api.get(f"{API}/tokens/", {"market_cap_usd_max": "100"})) == ["uni"]
    assert slugs(api.get(f"{API}/tokens/", {"holder_yield_min": "0.1"})) == ["jup"]
    assert slugs(api.get(f"{API}/tokens/", {"ordering": "name"})) == ["aave", "jup", "uni"]
    assert slugs(api.get(f"{API}/tokens/", {"ordering": "-name"})) == ["uni", "jup", "aave"]


def test_token_list_as_of_reads_the_snapshot_dated_that_day_or_the_newest_before(api):
    old = MetricSnapshotFactory(token__slug="aave", date=TODAY - dt.timedelta(days=10), latest=False, price_usd=1)
    MetricSnapshotFactory(token=old.token, date=TODAY, price_usd=9)
    MetricSnapshotFactory(token__slug="new", date=TODAY)  # did not exist ten days ago
    body = api.get(f"{API}/tokens/", {"as_of": str(TODAY - dt.timedelta(days=5))}).json()
    assert [row["slug"] for row in body["results"]] == ["aave"]
    assert body["results"][0]["snapshot"]["date"] == str(TODAY - dt.timedelta(days=10))
    assert Decimal(body["results"][0]["snapshot"]["price"]["price_usd"]) == 1
    detail = api.get(f"{API}/tokens/aave/", {"as_of": str(TODAY - dt.timedelta(days=5))}).json()
    assert Decimal(detail["snapshot"]["price"]["price_usd"]) == 1
    assert Decimal(api.get(f"{API}/tokens/aave/").json()["snapshot"]["price"]["price_usd"]) == 9


def test_cursor_paging_walks_every_row_once_in_a_stable_order(api, monkeypatch):
    for n in range(5):
        MetricSnapshotFactory(token__slug=f"tok-{n}", market_cap_usd=Decimal(100))  # all tied: slug breaks ties
    seen, url = [], f"{API}/tokens/?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [row["slug"] for row in body["results"]]
        url = body["next"]
    assert seen == [f"tok-{n}" for n in range(5)]
    page = f"{API}/tokens/?page_size=2"
    etag = api.get(page)["ETag"]
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert api.get(page, headers={"If-None-Match": etag}).status_code == 304  # its next link has not changed


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/tokens/", {"cursor": "forged"}, "cursor"),
        ("/tokens/", {"page_size": "0"}, "page_size"),
        ("/tokens/", {"as_of": "2026-13-01"}, "as_of"),
        ("/tokens/", {"ordering": "colour"}, "ordering"),
        ("/tokens/", {"category": "casino"}, "category"),
        ("/tokens/", {"chain": "atlantis"}, "chain"),
        ("/tokens/", {"ps_min": "cheap"}, "ps_min"),
        ("/tokens/", {"ps_min": "NaN"}, "ps_min"),
        ("/tokens/", {"ps_min": "5", "ps_max": "1"}, "ps"),
        ("/tokens/", {"ps_min": "1e999999999"}, "ps_min"),
        ("/tokens/", {"search": "a\x00b"}, "search"),
        ("/tokens/", {"chain": "\x00"}, "chain"),
        ("/tokens/aave/prices/", {"start": "2026-02-30"}, "start"),
        ("/tokens/aave/prices/", {"start": "2026-11-20", "end": "2026-11-01"}, "start"),
        ("/tokens/aave/revenue/", {"start": "1990-01-01", "end": "2026-01-01"}, "start"),
        ("/tokens/aave/revenue/", {"start": "0001-01-02", "end": "0001-01-01"}, "start"),
        ("/ratings/", {"band": "Z"}, "band"),
        ("/ratings/", {"grade": "gambler"}, "grade"),
        ("/bulk/tokens-2026-02-31.csv", {}, "day"),
        # Present but empty is not "absent" (schemathesis: an empty enum or date was accepted).
        ("/ratings/", {"band": ""}, "band"),
        ("/tokens/", {"ordering": ""}, "ordering"),
        ("/tokens/aave/prices/", {"start": ""}, "start"),
        ("/tokens/", {"ps_max": "1.1e39"}, "ps_max"),
        ("/tokens/", {"ps_max": ""}, "ps_max"),
        ("/tokens/", {"format": ""}, "format"),
        ("/tokens/", {"format": "xml"}, "format"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api, url, params, field):
    TokenFactory(slug="aave")
    response = api.get(f"{API}{url}", params)
    assert response.status_code == 400
    assert field in response.content.decode()


@pytest.mark.parametrize("path", ["", "prices/", "revenue/", "reports/", "events/", "rating/", "ratings/"])
def test_unknown_token_is_a_404_with_a_message(api, path):
    response = api.get(f"{API}/tokens/nope/{path}")
    assert response.status_code == 404
    assert "nope" in response.content.decode()


def test_the_earliest_dates_are_empty_ranges_not_errors(api):
    TokenFactory(slug="aave")
    assert api.get(f"{API}/tokens/aave/prices/", {"end": "0001-01-02"}).json()["results"] == []
    assert api.get(f"{API}/tokens/", {"as_of": "0001-01-01"}).json()["results"] == []


def test_token_detail_has_the_accrual_policy(api):
    snapshot = MetricSnapshotFactory(token__slug="hype")
    AccrualPolicyFactory(token=snapshot.token)
    body = api.get(f"{API}/tokens/hype/").json()
    [policy] = body["accrual_policies"]
    assert policy["mechanism"] == "buyback" and policy["share_of_revenue"] == "0.9700000000"


def test_daily_prices_and_revenue_for_a_date_range_oldest_first(api):
    token = TokenFactory(slug="hype")
    for n in range(5):
        PriceDayFactory(token=token, date=TODAY - dt.timedelta(days=n))
        RevenueDayFactory(token=token, date=TODAY - dt.timedelta(days=n))
    params = {"start": str(TODAY - dt.timedelta(days=3)), "end": str(TODAY - dt.timedelta(days=1))}
    prices = api.get(f"{API}/tokens/hype/prices/", params).json()["results"]
    assert [row["date"] for row in prices] == [str(TODAY - dt.timedelta(days=n)) for n in (3, 2, 1)]
    assert prices[0]["source"] == "coingecko" and prices[0]["as_of"]
    revenue = api.get(f"{API}/tokens/hype/revenue/", params).json()["results"]
    assert len(revenue) == 3 and revenue[0]["fees_usd"] == "1000000.0000"


def test_reports_and_events(api):
    token = TokenFactory(slug="hype")
    RevenueReportFactory(token=token)
    AccrualEventFactory(token=token, date=TODAY)
    AccrualEventFactory(token=token, date=TODAY - dt.timedelta(days=1))
    assert len(api.get(f"{API}/tokens/hype/reports/").json()["results"]) == 1
    events = api.get(f"{API}/tokens/hype/events/").json()["results"]
    assert [e["date"] for e in events] == [str(TODAY), str(TODAY - dt.timedelta(days=1))]


def test_ratings_latest_as_of_history_and_explained(api):
    good, poor = TokenFactory(slug="good"), TokenFactory(slug="poor")
    rate(good, TODAY - dt.timedelta(days=3), latest=False, score="20.0", grade="E")
    rate(good, score="90.0", grade="A")
    rate(poor, score="30.0", grade="D")
    latest = api.get(f"{API}/ratings/").json()["results"]
    assert latest[0]["source"] == "computed" and latest[0]["stale"] is True  # computed at AS_OF, long ago
    assert [(r["token"]["slug"], r["investor_grade"]) for r in latest] == [("good", "A"), ("poor", "D")]
    back_then = api.get(f"{API}/ratings/", {"as_of": str(TODAY - dt.timedelta(days=1))}).json()["results"]
    assert [(r["token"]["slug"], r["investor_grade"]) for r in back_then] == [("good", "E")]
    assert api.get(f"{API}/ratings/", {"band": "D"}).json()["results"][0]["token"]["slug"] == "poor"
    history = api.get(f"{API}/tokens/good/ratings/").json()["results"]
    assert [r["investor_grade"] for r in history] == ["E", "A"]
    explained = api.get(f"{API}/tokens/good/rating/", {"as_of": str(TODAY - dt.timedelta(days=2))}).json()
    assert explained["investor_grade"] == "E"
    assert [c["key"] for c in explained["components"]] == [c.key for c in METHODOLOGY.components]
    assert set(explained["inputs"]) == set(METHODOLOGY.input_keys)
    assert api.get(f"{API}/tokens/good/rating/", {"as_of": "2020-01-01"}).status_code == 404


def test_methodology(api):
    body = api.get(f"{API}/methodology/").json()
    assert body["version"] == METHODOLOGY.version
    assert [c["key"] for c in body["components"]] == [c.key for c in METHODOLOGY.components]
    assert body["grades"][0]["weights"] == dict(METHODOLOGY.grades[0].weights)
    assert body["inputs"][0]["description"] == METHODOLOGY.inputs[0].description


def published(slug: str, tokens: list[Token]) -> TopList:
    top_list = TopList.objects.create(slug=slug, title=slug.title(), summary="s", criteria="c")
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank, blurb=f"Why {token.slug}")
    services.publish(top_list=top_list, editor=None, now=AS_OF)
    return top_list


def test_top_lists_with_revisions_and_drafts_hidden(api):
    tokens = [MetricSnapshotFactory(token__slug=f"tok-{n}").token for n in range(2)]
    published("best", tokens)
    TopList.objects.create(slug="draft", title="Draft")
    body = api.get(f"{API}/top-lists/").json()
    assert [row["slug"] for row in body["results"]] == ["best"]
    [revision] = body["results"][0]["revisions"]
    assert [e["token"]["slug"] for e in revision["entries"]] == ["tok-0", "tok-1"]
    assert api.get(f"{API}/top-lists/best/").json()["revisions"][0]["number"] == 1
    assert api.get(f"{API}/top-lists/draft/").status_code == 404


def test_a_tiny_bound_is_a_number_like_any_other(api):
    MetricSnapshotFactory(token__slug="aave")
    assert slugs(api.get(f"{API}/tokens/", {"ps_min": "5e-324"})) == ["aave"]


@pytest.mark.parametrize("url", ["/tokens/?format=csv&page_size=0", "/tokens/nope/?format=csv"])
def test_a_problem_is_json_even_when_csv_was_asked_for(api, url):
    response = api.get(f"{API}{url}")
    assert response.status_code in (400, 404)
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code


def test_the_bulk_file_of_a_day_to_come_is_a_404(api):
    response = api.get(f"{API}/bulk/tokens-2999-01-01.csv")
    assert response.status_code == 404
    assert "not happened yet" in response.json()["detail"]


def test_a_list_page_is_kept_until_the_data_changes(api):
    MetricSnapshotFactory(token__slug="aave")
    first = api.get(f"{API}/tokens/")
    MetricSnapshotFactory(token__slug="gmx")
    with CaptureQueriesContext(connection) as queries:
        again = api.get(f"{API}/tokens/")
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert len(queries) == 0  # the key and the page both from the cache
    assert api.get(f"{API}/tokens/", headers={"If-None-Match": first["ETag"]}).status_code == 304
    assert api.get(f"{API}/tokens/?format=csv").content.startswith(b"slug,")
    data_changed()
    assert sorted(slugs(api.get(f"{API}/tokens/"))) == ["aave", "gmx"]


def test_a_kept_page_links_to_the_host_it_was_asked_on(api):
    MetricSnapshotFactory.create_batch(3)
    first = api.get(f"{API}/tokens/?page_size=1")
    other = api.get(f"{API}/tokens/?page_size=1", HTTP_HOST="localhost")
    assert first.json()["next"].startswith("http://testserver/api/v1/tokens/?cursor=")
    assert other.json()["next"].startswith("http://localhost/api/v1/tokens/?cursor=")


def test_etag_and_if_none_match_gives_304(api):
    MetricSnapshotFactory(token__slug="hype")
    first = api.get(f"{API}/tokens/hype/")
    etag = first["ETag"]
    again = api.get(f"{API}/tokens/hype/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert "Accept" in first["Vary"] and again["ETag"] == etag and "Accept" in again["Vary"]
    MetricSnapshot.objects.update(price_usd=Decimal(7))
    changed = api.get(f"{API}/tokens/hype/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_lists_render_as_csv(api, how):
    MetricSnapshotFactory(token__slug="hype", token__chains=[ChainFactory(slug="base"), ChainFactory(slug="eth")])
    response = api.get(f"{API}/tokens/", how.get("params"), headers=how.get("headers"))
    assert response["Content-Type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["slug"] == "hype" and row["snapshot.price.source"] == "coingecko"
    assert row["chains"] == "base eth"


def test_bulk_file_streams_every_tokens_figures_for_the_day(api):
    MetricSnapshotFactory(token__slug="b-token", date=TODAY - dt.timedelta(days=1))
    MetricSnapshotFactory(token__slug="a-token")
    response = api.get(f"{API}/bulk/tokens-{TODAY}.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["slug"] for r in rows] == ["a-token", "b-token"]
    assert rows[1]["date"] == str(TODAY - dt.timedelta(days=1)) and rows[0]["price_source"] == "coingecko"
    again = api.get(f"{API}/bulk/tokens-{TODAY}.csv", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    data_changed()  # a refresh finished
    assert api.get(f"{API}/bulk/tokens-{TODAY}.csv", headers={"If-None-Match": response["ETag"]}).status_code == 200


LIST_URLS = [
    "/tokens/",
    f"/tokens/?as_of={TODAY}",
    "/ratings/",
    f"/ratings/?as_of={TODAY}",
    "/top-lists/",
    "/tokens/t-00000/prices/",
    "/tokens/t-00000/revenue/",
    "/tokens/t-00000/reports/",
    "/tokens/t-00000/events/",
    "/tokens/t-00000/ratings/",
]


def count_queries(api, url: str) -> int:
    separator = "&" if "?" in url else "?"
    cache.clear()  # both sizes read the data status cold
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"{API}{url}{separator}page_size=1000&start=2020-01-01&end={TODAY}")
    assert response.status_code == 200, response.content
    return len(queries)


def add_history(token: Token, start: int, stop: int) -> None:
    for n in range(start, stop):
        day = TODAY - dt.timedelta(days=n)
        PriceDayFactory(token=token, date=day)
        RevenueDayFactory(token=token, date=day)
        AccrualEventFactory(token=token, date=day)
        RevenueReportFactory(token=token, period_start=day, period_end=day)
        if n:
            rate(token, day, latest=False)


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_query_counts_are_flat_from_10_to_1000_rows(api, url):
    tokens = grow(10)
    add_history(tokens[0], 0, 10)
    published("list-0", tokens[:3])
    count_queries(api, url)  # the key's first use records when it was last used
    small = count_queries(api, url)
    more = grow(990, prefix="u")
    add_history(tokens[0], 10, 1000) if "t-00000" in url else None
    for n in range(1, 5 if url == "/top-lists/" else 1):
        published(f"list-{n}", more[n * 10 : n * 10 + 10])
    assert count_queries(api, url) == small


def test_url_names():
    from django.urls import reverse

    assert reverse("api_v1:tokens") == "/api/v1/tokens/"
    assert reverse("api_v1:token-rating", kwargs={"slug": "hype"}) == "/api/v1/tokens/hype/rating/"
    assert reverse("api_v1:bulk-tokens", kwargs={"day": "2026-11-20"}) == "/api/v1/bulk/tokens-2026-11-20.csv"
    assert reverse("api_v1:schema") == "/api/v1/schema/"
    assert reverse("api_v1:watchlist-token", kwargs={"pk": 3, "slug": "hype"}) == "/api/v1/watchlists/3/tokens/hype/"
    assert reverse("api_v1:alert-rule", kwargs={"pk": 3}) == "/api/v1/alert-rules/3/"
    assert reverse("api_v1:briefing", kwargs={"day": "2026-11-20"}) == "/api/v1/briefings/2026-11-20/"
    assert reverse("api-docs") == "/api/docs/"
