"""Ratings pages: leaderboard (full page and HTMX partial, filters, sorting, paging, query
counts), methodology, track record (no look-ahead, sample label), what changed, the token
page's panel, and the CSP. Bad input is a message or a 404, never a server error."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.ratings import views
from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import LatestRating, Rating, RatingChange
from apps.tokens.models import Category, MetricSnapshot, Source, Token
from apps.tokens.snapshots import snapshots_recompute
from tests.factories import MetricSnapshotFactory, PriceDayFactory, TokenFactory
from tests.ratings.builders import END, add_history
from tests.ratings.html_tree import parse
from tests.support.data_set import hold

pytestmark = pytest.mark.django_db

BOARD = "/ratings/"
DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def rate(token: Token, day: dt.date = DAY, *, latest: bool = True, **fields) -> Rating:
    values = {
        "methodology_version": METHODOLOGY.version,
        "inputs": {key: None for key in METHODOLOGY.input_keys},
        "components": {},
        "investor_score": Decimal("50.0"),
        "investor_grade": "C",
        "trader_score": Decimal("50.0"),
        "trader_grade": "C",
        "signal": "neutral",
        "fingerprint": f"{token.pk}-{day}",
        "computed_at": NOW,
    }
    values.update(fields)
    rating = Rating.objects.create(token=token, date=day, **values)
    if latest:
        LatestRating.objects.update_or_create(
            token=token, methodology_version=rating.methodology_version, defaults={"rating": rating, "date": day}
        )
    return rating


def token(slug: str, category: str = Category.SPOT_DEX, *, rated: bool = True, **rating) -> Token:
    item = TokenFactory(slug=slug, name=slug.title(), symbol=slug[:4].upper(), category=category)
    if rated:
        rate(item, **rating)
    return item


def slugs(response) -> list[str]:
    return [r.token.slug for r in response.context["ratings"]]


def htmx_get(client, url, params=None, **headers):
    return client.get(url, params or {}, headers={"HX-Request": "true", **headers})


def test_urls():
    assert reverse("ratings:leaderboard") == "/ratings/"
    assert reverse("ratings:methodology") == "/ratings/methodology/"
    assert reverse("ratings:track_record") == "/ratings/track-record/"
    assert reverse("ratings:changes", kwargs={"slug": "aave"}) == "/ratings/aave/changes/"


# --- leaderboard -------------------------------------------------------------------------


def test_plain_request_renders_the_full_page_that_works_without_javascript(client):
    token("aave", investor_score=Decimal("70.0"), investor_grade="B")

    response = client.get(BOARD)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="ratings-form"' in html and 'id="results"' in html
    assert 'hx-get="/ratings/"' in html and 'hx-target="#results"' in html and 'hx-push-url="true"' in html
    assert '<button type="submit"' in html and 'method="get" action="/ratings/"' in html
    assert "AAVE" in html and "70.0" in html
    assert "Ratings as of" in html and "2026-11-20" in html  # the as-of of the data
    assert "HX-Request" in response["Vary"]


def test_htmx_request_renders_only_the_results_partial(client):
    token("aave")

    response = htmx_get(client, BOARD, {"grade": "trader"})

    html = response.content.decode()
    assert "<html" not in html and 'id="ratings-form"' not in html
    assert "<table" in html and "AAVE" in html and "ranked by Trader grade" in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_full_page(client):
    response = htmx_get(client, BOARD, **{"HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_ranked_by_investor_grade_by_default_not_rated_last(client):
    token("mid", investor_score=Decimal("55.0"), investor_grade="C")
    token("top", investor_score=Decimal("81.0"), investor_grade="A")
    token("nr", investor_score=None, investor_grade="", investor_reason="No revenue data.")

    response = client.get(BOARD)

    assert slugs(response) == ["top", "mid", "nr"]
    assert 'title="No revenue data."' in response.content.decode()


def test_ranked_by_trader_grade(client):
    token("a", trader_score=Decimal("20.0"), investor_score=Decimal("90.0"))
    token("b", trader_score=Decimal("80.0"), investor_score=Decimal("10.0"))

    assert slugs(client.get(BOARD, {"grade": "trader"})) == ["b", "a"]


def test_filter_by_category_and_band(client):
    token("lend-a", Category.LENDING, investor_grade="A", investor_score=Decimal("80.0"))
    token("lend-c", Category.LENDING, investor_grade="C")
    token("dex-a", Category.SPOT_DEX, investor_grade="A", investor_score=Decimal("90.0"))
    token("dex-nr", Category.SPOT_DEX, investor_grade="", investor_score=None, trader_grade="A")

    assert slugs(client.get(BOARD, {"category": "lending"})) == ["lend-a", "lend-c"]
    assert slugs(client.get(BOARD, {"band": "A"})) == ["dex-a", "lend-a"]
    assert slugs(client.get(BOARD, {"band": "A", "category": "lending"})) == ["lend-a"]
    assert slugs(client.get(BOARD, {"band": "nr"})) == ["dex-nr"]
    assert slugs(client.get(BOARD, {"band": "A", "grade": "trader"})) == ["dex-nr"]  # the band of the grade ranked by


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("valuation", "asc", ["cheap", "dear", "none"]),
        ("valuation", "desc", ["dear", "cheap", "none"]),  # missing sorts last both ways
        ("name", "", ["cheap", "dear", "none"]),  # text reads A→Z by default
    ],
)
def test_sorting_keeps_missing_last(client, sort, direction, expected):
    token("cheap", valuation_score=Decimal("10.0"))
    token("dear", valuation_score=Decimal("90.0"))
    token("none", valuation_score=None)

    assert slugs(client.get(BOARD, {"sort": sort, "dir": direction})) == expected


def test_sort_headers_keep_filters_and_link_to_the_partial(client):
    token("aave", Category.LENDING)

    html = client.get(BOARD, {"category": "lending"}).content.decode()

    assert 'href="/ratings/?category=lending&amp;sort=momentum&amp;dir=desc"' in html
    assert 'hx-get="/ratings/?category=lending&amp;sort=momentum&amp;dir=desc"' in html


def test_paging_with_htmx_links(client, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(5):
        token(f"t{i}", investor_score=Decimal(90 - i))

    first = client.get(BOARD)
    second = htmx_get(client, BOARD, {"page": "2"})

    assert slugs(first) == ["t0", "t1"] and slugs(second) == ["t2", "t3"]
    html = second.content.decode()
    assert 'hx-get="/ratings/?page=3"' in html and 'hx-get="/ratings/?page=1"' in html
    assert ">3</td>" in html  # ranks continue across pages


@pytest.mark.parametrize("number", ["9", "0", "abc", "-1"])
def test_a_page_that_is_not_a_page_is_404(client, number):
    token("aave")
    assert client.get(BOARD, {"page": number}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"grade": "astrologer"},
        {"band": "Z"},
        {"category": "casino"},
        {"sort": "price; DROP TABLE"},
        {"dir": "sideways"},
        {"band": "A\x00"},
        {"category": "x" * 5000},
    ],
)
def test_nonsense_choices_are_shown_as_errors_and_ignored(client, params):
    token("aave")

    response = client.get(BOARD, params)

    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
    assert slugs(response) == ["aave"]


def test_ratings_older_than_a_week_before_the_newest_drop_off(client):
    token("fresh")
    token("stale", day=DAY - dt.timedelta(days=8))

    assert slugs(client.get(BOARD)) == ["fresh"]


def test_post_is_refused(client):
    assert client.post(BOARD).status_code == 405


def test_leaderboard_order_is_kept_until_ratings_are_recomputed(client):
    token("first", investor_score=Decimal("80.0"))
    second = token("second", investor_score=Decimal("60.0"))
    assert slugs(client.get(BOARD)) == ["first", "second"]
    Rating.objects.filter(token=second).update(investor_score=Decimal("90.0"))

    cached = client.get(BOARD)
    Rating.objects.filter(token=second).update(computed_at=NOW + dt.timedelta(hours=1))  # a recompute
    fresh = client.get(BOARD)

    assert slugs(cached) == ["first", "second"] and "90.0" in cached.content.decode()
    assert slugs(fresh) == ["second", "first"]


def queries(client, url, **headers) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def make_rated(n: int, offset: int = 0) -> None:
    categories = [Category.LENDING, Category.SPOT_DEX, Category.LAYER1]
    for i in range(offset, offset + n):
        item = TokenFactory(slug=f"bulk-{i:04}", category=categories[i % 3])
        MetricSnapshotFactory(token=item)
        rate(item, investor_score=Decimal(i % 100), trader_score=Decimal((i * 7) % 100))


def test_leaderboard_query_count_is_the_same_for_10_and_500_tokens(client):
    urls = [BOARD, BOARD + "?grade=trader&category=lending", BOARD + "?sort=market_cap&page=1"]
    make_rated(10)
    small = {url: queries(client, url) for url in urls} | {"htmx": queries(client, BOARD, HX_Request="true")}

    make_rated(490, offset=10)
    large = {url: queries(client, url) for url in urls} | {"htmx": queries(client, BOARD, HX_Request="true")}

    assert large == small
    assert small[BOARD] <= 5


# --- methodology ---------------------------------------------------------------------------


def test_methodology_page_renders_every_weight_from_the_definition(client):
    html = client.get("/ratings/methodology/").content.decode()

    assert f"v{METHODOLOGY.version}" in html
    for grade in METHODOLOGY.grades:
        assert grade.label in html
        for key, weight in grade.weights:
            assert f'data-weight="{grade.key}.{key}">{weight}%<' in html
    for component in METHODOLOGY.components:
        assert component.label in html and component.description.replace("'", "&#x27;") in html
        for sub in component.submetrics:
            assert f'data-weight="{component.key}.{sub.key}">{sub.weight}%<' in html
    for item in METHODOLOGY.inputs:
        assert f'id="input-{item.key}"' in html
    for band, upper in METHODOLOGY.band_ranges:
        assert (f"≥ {band.min_score}" if band.min_score else f"below {upper}") in html
    signal = METHODOLOGY.signal
    for threshold in (signal.bullish_enter, signal.bullish_exit, signal.bearish_enter, signal.bearish_exit):
        assert f"{threshold}" in html
    assert (
        f'data-universe-weight="{METHODOLOGY.ranking.universe_weight}">{METHODOLOGY.ranking.universe_weight}%<' in html
    )
    assert "Ratings as of" in html


def test_methodology_page_says_buyback_yield_counts_tokens_bought_held_or_burned(client):
    html = client.get("/ratings/methodology/").content.decode()

    assert "USD value of tokens bought from the market in the last 30 days (held or burned; fee burns" in html


def test_methodology_page_states_what_a_reader_needs_to_recompute_a_grade(client):
    """The rank formula, ties and the lone token, the standard deviation, the days each input
    needs (growth and holders' share too), the revenue lag, missing against zero revenue."""
    html = client.get("/ratings/methodology/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())

    assert 'data-formula="rank">rank = 100 × (worse + (tied − 1) ÷ 2) ÷ (n − 1)<' in html
    assert "ties share the middle rank" in text and 'data-lone-score="50">50<' in html
    assert "sample standard deviations, √(Σ (x − mean)² ÷ (n − 1))" in text
    assert "used in Revenue consistency and Volatility" in text
    for key, days in {"revenue_growth_30d": 57, "revenue_growth_90d": 171, "holders_share": 27}.items():
        assert f'data-min-days="{key}">{days}<' in html
    assert "why a token with under 57 days of revenue shows “—” for revenue growth 30d" in text
    assert 'data-revenue-lag="7">7 days</span> before the rating' in html
    assert "a token without revenue data in the window has no Scale and no P/S" in text
    assert "a token whose revenue was 0 (or less) ranks at the bottom on both" in text
    assert "rounded half up to 0.1" in text and "A token is rated on a day when it has a price that day" in text


def test_the_stated_data_needs_are_what_the_snapshots_require():
    """The methodology's revenue lag and coverage are the snapshot code's, and its days needed
    follow from them: growth 30d needs 27 days in each window (57), holders' share 27 of 30."""
    import math

    from apps.tokens import metrics, snapshots

    assert METHODOLOGY.revenue_max_lag_days == snapshots.REVENUE_MAX_LAG_DAYS
    assert METHODOLOGY.revenue_window_coverage == metrics.MIN_WINDOW_COVERAGE
    need = {key: math.ceil(METHODOLOGY.revenue_window_coverage * days) for key, days in {"w30": 30, "w90": 90}.items()}
    assert METHODOLOGY.input("revenue_growth_30d").min_days == 30 + need["w30"]
    assert METHODOLOGY.input("revenue_growth_90d").min_days == 90 + need["w90"]
    for key in ("revenue_annualised", "holders_revenue_annualised", "holders_share", "holder_yield"):
        assert METHODOLOGY.input(key).min_days == need["w30"], key


@pytest.mark.parametrize(("revenue_days", "has_growth"), [(56, False), (57, True)])
def test_revenue_growth_30d_needs_57_days_of_revenue_as_the_methodology_says(revenue_days, has_growth):
    item = TokenFactory(slug="young")
    add_history(item, days=60, revenue_days=revenue_days)
    snapshots_recompute(token_ids=[item.pk])

    snapshot = MetricSnapshot.objects.get(token=item, date=END)
    assert (snapshot.revenue_growth_30d is not None) is has_growth
    assert snapshot.holders_share is not None  # 27 of the last 30 days: there


def test_standard_deviations_are_sample_standard_deviations_as_published():
    import statistics

    from apps.ratings import history

    values = [1.0, 2.0, 4.0, 7.0]
    assert history._stdev(values) == pytest.approx(statistics.stdev(values))  # n − 1, not statistics.pstdev
    assert set(METHODOLOGY.stdev_inputs) == {"volatility_90d", "revenue_consistency_90d"}


# --- track record ---------------------------------------------------------------------------


def price(item: Token, day: dt.date, value: str) -> None:
    PriceDayFactory(token=item, date=day, price_usd=Decimal(value))


def track_universe() -> tuple[Token, Token]:
    """Month-end 2026-01-31: ALPHA rated A, BRAVO rated E. Prices on the month-end, 30 days
    after (03-02) and 90 days after (05-01): ALPHA 10 → 12 → 8, BRAVO 10 → 9 → 11."""
    alpha, bravo = token("alpha", rated=False), token("bravo", rated=False)
    month_end = dt.date(2026, 1, 31)
    rate(alpha, month_end, latest=False, investor_grade="A", investor_score=Decimal("80.0"))
    rate(bravo, month_end, latest=False, investor_grade="E", investor_score=Decimal("20.0"))
    rate(alpha, dt.date(2026, 5, 1), investor_grade="B")
    rate(bravo, dt.date(2026, 5, 1))
    for item, values in ((alpha, ("10", "12", "8")), (bravo, ("10", "9", "11"))):
        for day, value in zip((month_end, dt.date(2026, 3, 2), dt.date(2026, 5, 1)), values, strict=True):
            price(item, day, value)
    return alpha, bravo


def band_row(record, band: str):
    return next(g for g in record.overall if g.band == band)


def test_track_record_golden(client):
    track_universe()

    response = client.get("/ratings/track-record/")

    record = response.context["record"]
    assert [m.date for m in record.months] == [dt.date(2026, 1, 31)]  # the only month-end with ratings
    a, e = band_row(record, "A"), band_row(record, "E")
    assert (a.count, a.average(30), a.hit_rate(30)) == (1, pytest.approx(0.2), 1.0)
    assert (a.average(90), a.hit_rate(90)) == (pytest.approx(-0.2), 0.0)
    assert (e.average(30), e.hit_rate(30), e.average(90), e.hit_rate(90)) == (
        pytest.approx(-0.1),
        0.0,
        pytest.approx(0.1),
        1.0,
    )
    html = response.content.decode()
    assert "+20.0%" in html and "−20.0%" in html and "2026-01-31" in html


def test_track_record_groups_by_the_rating_of_the_month_end_only(client):
    """No look-ahead: ratings after the month-end (or on other days) never regroup it."""
    alpha, bravo = track_universe()
    before = client.get("/ratings/track-record/").context["record"]

    Rating.objects.filter(token=alpha, date=dt.date(2026, 5, 1)).update(investor_grade="E")
    rate(alpha, dt.date(2026, 2, 1), latest=False, investor_grade="E")  # the day after
    rate(bravo, dt.date(2026, 1, 30), latest=False, investor_grade="A")  # the day before
    cache.clear()
    after = client.get("/ratings/track-record/").context["record"]

    for band in ("A", "E"):
        assert band_row(after, band).count == band_row(before, band).count == 1
        assert band_row(after, band).returns == band_row(before, band).returns


def test_a_forward_window_not_over_yet_is_pending(client):
    item = token("late", rated=False)
    rate(item, dt.date(2026, 10, 31), latest=False, investor_grade="B")
    rate(item, DAY)
    price(item, dt.date(2026, 10, 31), "10")
    price(item, DAY, "11")

    response = client.get("/ratings/track-record/")

    month = response.context["record"].months[0]
    assert month.date == dt.date(2026, 10, 31) and month.complete == {30: False, 90: False}
    assert "pending" in response.content.decode()


def test_track_record_is_labelled_sample_data_while_sample_data_is_shown(client):
    track_universe()
    MetricSnapshotFactory(token=Token.objects.get(slug="alpha"), price_source=Source.SAMPLE)
    hold("sample")

    html = client.get("/ratings/track-record/").content.decode()

    assert "Sample data" in html and "bundled sample data set" in html


def test_track_record_with_live_data_has_no_sample_label(client):
    track_universe()
    MetricSnapshotFactory(token=Token.objects.get(slug="alpha"), price_source=Source.COINGECKO)
    hold("live")

    html = client.get("/ratings/track-record/").content.decode()

    assert "bundled sample data set" not in html


def benchmark_universe() -> None:
    """Three month-ends. 01-31: ALPHA A, BRAVO E, CHARLIE A. 02-28: ALPHA B, BRAVO A,
    CHARLIE not rated. 03-31: all C (their windows pending). Prices (01-31, 03-02, 02-28,
    03-30, 03-31): ALPHA 10, 11, 12, 14.4, 15; BRAVO 10, 10.5, 9, 9, 9.9; CHARLIE 20, 22, 25, —, 20."""
    items = {slug: token(slug, rated=False) for slug in ("alpha", "bravo", "charlie")}
    grades = {
        dt.date(2026, 1, 31): {"alpha": "A", "bravo": "E", "charlie": "A"},
        dt.date(2026, 2, 28): {"alpha": "B", "bravo": "A", "charlie": ""},
        dt.date(2026, 3, 31): {"alpha": "C", "bravo": "C", "charlie": "C"},
    }
    for day, by_slug in grades.items():
        for slug, grade in by_slug.items():
            rate(items[slug], day, latest=day.month == 3, investor_grade=grade)
    days = [dt.date(2026, 1, 31), dt.date(2026, 3, 2), dt.date(2026, 2, 28), dt.date(2026, 3, 30), dt.date(2026, 3, 31)]
    for slug, values in {
        "alpha": ("10", "11", "12", "14.4", "15"),
        "bravo": ("10", "10.5", "9", "9", "9.9"),
        "charlie": ("20", "22", "25", None, "20"),
    }.items():
        for day, value in zip(days, values, strict=True):
            if value:
                price(items[slug], day, value)


def test_all_rated_tokens_are_the_benchmark_beside_the_bands(client):
    """All rated, 30 days on: 01-31 ALPHA +10%, BRAVO +5%, CHARLIE +10%; 02-28 ALPHA +20%,
    BRAVO 0% (CHARLIE not rated): mean 9%, 4 of 5 rose; 03-31's three are pending."""
    benchmark_universe()

    response = client.get("/ratings/track-record/")

    record = response.context["record"]
    everyone = record.all_rated
    assert (everyone.count, everyone.measured(30), everyone.measured(90)) == (8, 5, 0)
    assert (everyone.average(30), everyone.hit_rate(30)) == (pytest.approx(0.09), pytest.approx(0.8))
    january = next(m for m in record.months if m.date == dt.date(2026, 1, 31))
    assert january.all_rated.average(30) == pytest.approx(0.25 / 3)
    html = response.content.decode()
    assert html.count('data-group="all"') == 1 + len(record.months)  # overall, and every month-end
    assert "+9.0%" in html and "80%" in html


def test_cumulative_returns_by_band_against_all_rated(client):
    """Held month-end to month-end. January: A (ALPHA +20%, CHARLIE +25%) +22.5%, E (BRAVO)
    −10%, all +11.67%. February: B (ALPHA 12 → 15) +25%, A (BRAVO 9 → 9.9) +10%, all +17.5%.
    Cumulative: A 1.225 × 1.1 − 1 = +34.75%; B +25%; E −10%; all 1.11667 × 1.175 − 1 = +31.21%."""
    benchmark_universe()
    rate(Token.objects.get(slug="alpha"), dt.date(2025, 12, 31), latest=False, investor_grade="")  # nobody graded

    response = client.get("/ratings/track-record/")

    lines = {
        line.key: [(day, value) for day, value, _ in line.points] for line in response.context["record"].cumulative
    }
    ends = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
    expected = {
        "A": [0, 0.225, 0.3475],
        "B": [0, 0, 0.25],
        "E": [0, -0.1, -0.1],
        "all": [0, 0.35 / 3, (1 + 0.35 / 3) * 1.175 - 1],
    }
    assert set(lines) == set(expected)  # C and D: never a token to hold; none start at 2025-12-31
    for key, values in expected.items():
        assert [day for day, _ in lines[key]] == ends
        assert [value for _, value in lines[key]] == pytest.approx(values), key
    html = response.content.decode()
    data = json.loads(
        re.search(r'<script id="track-record-chart-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert [line["key"] for line in data["lines"]] == ["A", "B", "E", "all"]
    assert data["lines"][3]["points"][2] == {"time": "2026-03-31", "value": 31.21}
    assert 'id="track-record-chart"' in html and "js/track-record-chart.js" in html
    table = re.search(r'<table class="data track-table" id="cumulative-table">(.*?)</table>', html, re.S).group(1)
    assert "+22.5%" in table and "−10.0%" in table  # the chart's figures, readable without it
    assert "What remains imperfect" in html and "the catalogue is today" in html


def test_track_record_with_nothing_rated(client):
    response = client.get("/ratings/track-record/")
    assert response.status_code == 200 and "No month-end has been rated yet." in response.content.decode()


# --- what changed ---------------------------------------------------------------------------


def rated_history(slug: str = "aave") -> Token:
    item = token(slug, rated=False)
    rate(
        item,
        DAY - dt.timedelta(days=30),
        latest=False,
        investor_score=Decimal("40.0"),
        investor_grade="D",
        revenue_score=Decimal("30.0"),
        inputs={"revenue_annualised": "1000000"},
    )
    rate(
        item,
        DAY,
        investor_score=Decimal("62.5"),
        investor_grade="B",
        revenue_score=Decimal("70.0"),
        inputs={"revenue_annualised": "2500000"},
    )
    return item


def changes_url(slug: str = "aave") -> str:
    return f"/ratings/{slug}/changes/"


def test_what_changed_full_page_component_by_component(client):
    rated_history()

    response = client.get(changes_url(), {"start": "2026-10-21", "end": "2026-11-20"})

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "D 40.0" in html and "B 62.5" in html and "+22.5" in html
    assert "+40.0" in html  # the Revenue component
    assert "$1.0M → $2.5M" in html  # the input behind it


def test_what_changed_htmx_swaps_only_the_comparison(client):
    rated_history()

    response = htmx_get(client, changes_url(), {"start": "2026-10-21", "end": "2026-11-20"})

    html = response.content.decode()
    assert "<html" not in html and "<table" in html and "+22.5" in html


def test_what_changed_uses_the_newest_rating_on_or_before_each_date(client):
    rated_history()

    response = client.get(changes_url(), {"start": "2026-11-01", "end": "2030-01-01"})

    comparison = response.context["comparison"]
    assert (comparison.before.date, comparison.after.date) == (DAY - dt.timedelta(days=30), DAY)
    assert "the newest on or before each date" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday", "end": "2026-11-20"}, "Enter a valid date"),
        ({"start": "2026-02-30", "end": "2026-11-20"}, "Enter a valid date"),
        ({"start": "99999-01-01", "end": "2026-11-20"}, "Enter a valid date"),
        ({"start": "2026-11-20\x00", "end": "2026-11-20"}, "Enter a valid date"),
        ({"start": "2026-11-20", "end": "2026-01-01"}, "The first date must be on or before the second."),
        ({"end": "2026-11-20"}, "This field is required"),
        (
            {"start": "2020-01-01", "end": "2020-02-01"},
            "has no rating on or before 2020-01-01: its ratings start on 2026-10-21",
        ),
    ],
)
def test_bad_dates_are_explained_never_a_server_error(client, params, message):
    rated_history()

    for response in (client.get(changes_url(), params), htmx_get(client, changes_url(), params)):
        assert response.status_code == 200
        assert message in response.content.decode()


def test_what_changed_for_an_unknown_token_is_404(client):
    assert client.get(changes_url("no-such-token"), {"start": "2026-01-01", "end": "2026-02-01"}).status_code == 404


def test_what_changed_without_dates_asks_for_them(client):
    rated_history()
    assert "Pick two dates" in client.get(changes_url()).content.decode()


# --- token page panel -------------------------------------------------------------------------


def test_token_page_shows_the_rating_panel_with_inputs_chart_and_comparison(client):
    item = rated_history()
    MetricSnapshotFactory(token=item)
    PriceDayFactory(token=item, date=DAY)
    RatingChange.objects.create(
        token=item,
        date=DAY,
        methodology_version=METHODOLOGY.version,
        kind="band_change",
        subject="investor",
        before="D",
        after="B",
        created_at=NOW,
    )

    response = client.get(item.get_absolute_url())

    html = response.content.decode()
    assert 'id="rating"' in html and "Investor grade" in html and "62.5" in html
    assert f'data-methodology-version="{METHODOLOGY.version}">v{METHODOLOGY.version}<' in html
    assert '<time datetime="2026-11-20" data-rating-day>2026-11-20</time>' in html
    assert "Revenue, annualised" in html and "$2.5M" in html  # an input behind a component
    assert 'data-src="/ratings/aave/history/"' in html and "ratings-chart.js" in html
    data = client.get("/ratings/aave/history/").json()
    assert data["investor"] == [{"time": "2026-10-21", "value": 40.0}, {"time": "2026-11-20", "value": 62.5}]
    assert 'hx-get="/ratings/aave/changes/"' in html and 'value="2026-10-21"' in html
    assert "+22.5" in html  # the default comparison: 30 days back
    assert "band change D → B" in html


def test_rating_history_gives_both_grades_series_and_the_bands(client):
    item = rated_history()
    rate(item, DAY - dt.timedelta(days=10), latest=False, investor_score=None, trader_score=Decimal("55.0"))

    data = client.get("/ratings/aave/history/").json()

    assert [p["time"] for p in data["investor"]] == ["2026-10-21", "2026-11-20"]
    assert {"time": "2026-11-10", "value": 55.0} in data["trader"]
    assert [b["letter"] for b in data["bands"]] == [b.letter for b in METHODOLOGY.bands if b.min_score > 0]


def test_rating_history_of_an_unknown_token_is_404(client):
    assert client.get("/ratings/no-such-token/history/").status_code == 404


def test_token_page_without_ratings_has_no_grade_chart(client):
    MetricSnapshotFactory(token=token("unrated", rated=False))

    html = client.get("/tokens/unrated/").content.decode()

    assert 'id="rating-chart"' not in html and "ratings-chart.js" not in html


def test_token_page_shows_when_a_rating_was_computed_apart_from_its_day(client):
    """The panel's "Computed" is when the rating was worked out, not the day of its figures."""
    item = token("late", computed_at=dt.datetime(2026, 11, 22, 8, 15, tzinfo=dt.UTC))

    panel = parse(client.get(item.get_absolute_url()).content.decode()).find("section", id="rating")

    by_label = {term.text: value for term, value in zip(panel.find_all("dt"), panel.find_all("dd"), strict=False)}
    assert by_label["Rating day"].find("time").attrs["datetime"] == "2026-11-20"
    computed = by_label["Computed"].find("time")
    assert computed.attrs["datetime"] == "2026-11-22T08:15:00+00:00" and computed.text == "2026-11-22 08:15 UTC"


def test_change_30d_and_return_30d_carry_their_definitions_on_the_token_page(client):
    """Both are defined in visible text the figure points to (aria-describedby), not in a
    hover title: the price change is close to close, the rating's return compares 7-day averages."""
    item = token("defined", inputs={key: None for key in METHODOLOGY.input_keys} | {"return_30d": "0.12"})
    MetricSnapshotFactory(token=item)

    page = parse(client.get(item.get_absolute_url()).content.decode())

    change = next(
        fig.find("dd") for fig in page.find_all("div", **{"class": "fig"}) if fig.find("dt").text == "Change 30d"
    )
    definition = page.find(id=change.attrs["aria-describedby"])
    assert "against the close 7 and 30 days before" in definition.text and "Return 30d" in definition.text
    returns = next(li for li in page.find_all("li", aria_describedby=True) if li.find("span").text == "Return 30d")
    definition = page.find(id=returns.attrs["aria-describedby"])
    assert definition.tag == "dd" and "7-day average price over 30 days" in definition.text
    assert "Not the same as the 30-day price change" in definition.text
    assert 'title="Change of the 7-day' not in client.get(item.get_absolute_url()).content.decode()


def test_token_page_explains_a_not_rated_token(client):
    item = token(
        "nr", investor_grade="", investor_score=None, investor_reason="Only 12 days of revenue history; 90 needed."
    )
    assert (
        "Not rated: Only 12 days of revenue history; 90 needed." in client.get(item.get_absolute_url()).content.decode()
    )


def test_token_page_without_a_rating(client):
    item = token("fresh", rated=False)
    assert "Not rated yet" in client.get(item.get_absolute_url()).content.decode()


def test_token_page_queries_do_not_grow_with_rating_history(client):
    short, long_ = token("short", rated=False), token("long", rated=False)
    for item, days in ((short, 3), (long_, 300)):
        for n in range(days):
            rate(item, DAY - dt.timedelta(days=n), latest=n == 0)

    assert queries(client, "/tokens/short/") == queries(client, "/tokens/long/")


# --- CSP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        BOARD,
        BOARD + "?band=zz",
        "/ratings/methodology/",
        "/ratings/track-record/",
        "/tokens/aave/",
        "/ratings/aave/changes/?start=2026-10-21&end=2026-11-20",
    ],
)
def test_every_script_carries_the_nonce_and_nothing_is_styled_inline(client, url):
    rated_history()

    response = client.get(url)

    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        if 'type="application/json"' not in tag:
            assert f'nonce="{nonce}"' in tag, tag
    assert " style=" not in html and "<style" not in html
