"""Ratings services: recompute and backfill on real facts — stored inputs, idempotence,
determinism, no look-ahead, not-rated reasons, the latest pointer, signals and events."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ratings import loading, services
from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import LatestRating, Rating, RatingChange
from apps.ratings.scoring import TokenInputs, rate_universe
from apps.ratings.services import ratings_backfill, ratings_recompute
from apps.tokens.models import AccrualEvent, Category, MetricSnapshot, PriceDay, RevenueDay, Token
from apps.tokens.snapshots import snapshots_recompute
from tests.factories import AccrualEventFactory, TokenFactory

from .builders import END, add_history, rated_universe

pytestmark = pytest.mark.django_db

DAY = END


def ratings_on(day: dt.date) -> dict[str, Rating]:
    return {r.token.slug: r for r in Rating.objects.filter(date=day).select_related("token")}


def content(rating: Rating) -> tuple:
    """Everything a rating holds but its time."""
    return (
        rating.inputs,
        rating.components,
        rating.investor_score,
        rating.investor_grade,
        rating.investor_reason,
        rating.trader_score,
        rating.trader_grade,
        rating.trader_reason,
        rating.signal,
        rating.fingerprint,
    )


@pytest.fixture
def tokens():
    return rated_universe()


def test_a_day_is_rated_for_every_token_with_figures_that_day(tokens):
    result = ratings_recompute(day=DAY)

    assert (result.days, result.rated, result.written) == (1, 5, 5)
    rated = ratings_on(DAY)
    assert set(rated) == {"alpha", "beta", "gamma", "delta", "epsilon"}
    alpha = rated["alpha"]
    assert alpha.methodology_version == METHODOLOGY.version
    assert alpha.investor_grade in "ABCDE" and alpha.investor_score is not None
    assert alpha.trader_grade and alpha.signal in {"bullish", "neutral", "bearish"}
    assert set(alpha.inputs) == set(METHODOLOGY.input_keys)
    assert all(v is None or isinstance(v, str) for v in alpha.inputs.values())  # decimals as strings
    Decimal(alpha.inputs["revenue_annualised"])
    universe, category, score, ranked, peers = alpha.components["revenue"]["parts"]["scale"]
    assert (ranked, peers) == (4, 3)  # delta has no revenue; alpha, beta, gamma are lending
    assert min(universe, category) <= score <= max(universe, category)  # the 50/50 blend


def test_not_rated_tokens_are_stored_with_the_reason(tokens):
    ratings_recompute(day=DAY)

    rated = ratings_on(DAY)
    assert (rated["delta"].investor_grade, rated["delta"].investor_reason) == ("", "No revenue data.")
    assert rated["delta"].investor_score is None
    assert rated["epsilon"].investor_reason == "Only 40 days of revenue history; 90 needed."
    assert rated["epsilon"].trader_grade  # the Trader grade needs no revenue


def test_stored_inputs_reproduce_the_stored_scores(tokens):
    """Any grade can be recomputed from what the ratings store."""
    ratings_recompute(day=DAY)
    stored = list(Rating.objects.filter(date=DAY).select_related("token"))

    again = rate_universe([TokenInputs(r.token_id, r.token.category, r.inputs) for r in stored])

    for rating in stored:
        recomputed = again[rating.token_id]
        assert recomputed.investor.score == rating.investor_score
        assert recomputed.trader.score == rating.trader_score
        for key in ("revenue", "value_accrual", "valuation", "momentum", "risk"):
            assert recomputed.components[key].score == getattr(rating, f"{key}_score")


def test_recompute_is_idempotent_and_writes_nothing_when_nothing_changed(tokens):
    ratings_backfill(start=DAY - dt.timedelta(days=5), end=DAY)
    before = {(r.token_id, r.date): (content(r), r.computed_at) for r in Rating.objects.all()}
    events = list(RatingChange.objects.values_list("pk", "token_id", "date", "kind", "subject", "before", "after"))

    result = ratings_backfill(start=DAY - dt.timedelta(days=5), end=DAY)

    assert (result.written, result.changes) == (0, 0)
    assert {(r.token_id, r.date): (content(r), r.computed_at) for r in Rating.objects.all()} == before
    assert (
        list(RatingChange.objects.values_list("pk", "token_id", "date", "kind", "subject", "before", "after")) == events
    )


def test_recompute_is_deterministic(tokens):
    ratings_backfill(start=DAY - dt.timedelta(days=3), end=DAY)
    first = {(r.token_id, r.date): content(r) for r in Rating.objects.all()}
    Rating.objects.all().delete()

    ratings_backfill(start=DAY - dt.timedelta(days=3), end=DAY)

    assert {(r.token_id, r.date): content(r) for r in Rating.objects.all()} == first


def test_one_day_alone_matches_the_same_day_in_a_backfill(tokens):
    ratings_backfill(start=DAY - dt.timedelta(days=10), end=DAY)
    in_backfill = {slug: content(r) for slug, r in ratings_on(DAY).items()}

    Rating.objects.filter(date=DAY).delete()
    ratings_recompute(day=DAY)

    assert {slug: content(r) for slug, r in ratings_on(DAY).items()} == in_backfill


def test_a_rating_as_of_a_day_never_reads_data_after_it(tokens):
    """Change, add and delete facts after day t, recompute the snapshots and day t: same rating."""
    t = DAY - dt.timedelta(days=20)
    ratings_recompute(day=t)
    before = {slug: content(r) for slug, r in ratings_on(t).items()}

    alpha_fetched = PriceDay.objects.first().fetched_at
    later = PriceDay.objects.filter(date__gt=t)
    later.filter(token__slug="alpha").update(price_usd=Decimal("0.01"), market_cap_usd=Decimal("1"))
    later.filter(token__slug="beta").delete()
    RevenueDay.objects.filter(date__gt=t, token__slug="gamma").update(revenue_usd=Decimal("999999999"))
    delta = Token.objects.get(slug="delta")  # no revenue until after t
    RevenueDay.objects.bulk_create(
        RevenueDay(
            token=delta,
            date=t + dt.timedelta(days=n),
            revenue_usd=Decimal("1e9"),
            source="sample",
            fetched_at=alpha_fetched,
        )
        for n in range(1, 11)
    )
    snapshots_recompute()
    Rating.objects.all().delete()
    ratings_recompute(day=t)

    assert {slug: content(r) for slug, r in ratings_on(t).items()} == before


def test_a_day_without_figures_rates_nobody(tokens):
    result = ratings_recompute(day=END + dt.timedelta(days=30))
    assert (result.rated, result.written) == (0, 0)
    assert not Rating.objects.exists()


def test_token_ids_limit_the_rows_written_but_not_the_ranking(tokens):
    ratings_recompute(day=DAY)
    full = {slug: content(r) for slug, r in ratings_on(DAY).items()}
    Rating.objects.all().delete()

    alpha = Token.objects.get(slug="alpha")
    result = ratings_recompute(day=DAY, token_ids=[alpha.pk])

    assert (result.rated, result.written) == (5, 1)
    assert {slug: content(r) for slug, r in ratings_on(DAY).items()} == {"alpha": full["alpha"]}


def test_the_latest_rating_is_marked_and_moves_forward_only(tokens):
    ratings_backfill(start=DAY - dt.timedelta(days=2), end=DAY)
    latest = LatestRating.objects.all()
    assert latest.count() == 5 and set(latest.values_list("date", flat=True)) == {DAY}

    ratings_recompute(day=DAY - dt.timedelta(days=5))  # an older day does not take over

    assert set(LatestRating.objects.values_list("date", flat=True)) == {DAY}
    assert LatestRating.objects.all().count() == 5


def test_pointers_move_to_the_newest_rating_of_the_tokens_written(tokens):
    alpha = Token.objects.get(slug="alpha")
    ratings_backfill(start=DAY - dt.timedelta(days=4), end=DAY - dt.timedelta(days=2))
    ratings_recompute(day=DAY - dt.timedelta(days=3))  # older: moves nothing
    ratings_recompute(day=DAY, token_ids=[alpha.pk])  # newer, for one token

    pointers = set(LatestRating.objects.values_list("token_id", "date", "rating_id", "methodology_version"))

    want = {(token.pk, DAY if token == alpha else DAY - dt.timedelta(days=2)) for token in tokens}
    assert {(token_id, day) for token_id, day, *_ in pointers} == want
    ratings = Rating.objects.filter(date__in={day for _, day in want})
    assert pointers == {
        (r.token_id, r.date, r.pk, METHODOLOGY.version) for r in ratings if (r.token_id, r.date) in want
    }


def test_the_signal_follows_the_stored_day_before(tokens):
    day_before = DAY - dt.timedelta(days=1)
    ratings_recompute(day=day_before)
    alpha = Rating.objects.get(token__slug="alpha", date=day_before)
    score = alpha.trader_score
    # Make yesterday bullish whatever its score: today holds bullish while the score stays ≥ 55.
    Rating.objects.filter(pk=alpha.pk).update(signal="bullish")

    ratings_recompute(day=DAY)

    today = Rating.objects.get(token__slug="alpha", date=DAY)
    expected = "bullish" if today.trader_score >= 55 else ("bearish" if today.trader_score <= 40 else "neutral")
    assert today.signal == expected
    assert score is not None


def test_events_record_band_changes_signal_flips_and_large_moves(tokens):
    day_before = DAY - dt.timedelta(days=1)
    ratings_recompute(day=day_before)
    gamma = Rating.objects.get(token__slug="gamma", date=day_before)
    Rating.objects.filter(pk=gamma.pk).update(
        investor_grade="E", investor_score=Decimal("1.0"), trader_grade="", trader_score=None, signal="bearish"
    )

    ratings_recompute(day=DAY)

    today = Rating.objects.get(token__slug="gamma", date=DAY)
    events = {(e.kind, e.subject): e for e in RatingChange.objects.filter(token__slug="gamma", date=DAY)}
    assert events["band_change", "investor"].before == "E"
    assert events["band_change", "investor"].after == today.investor_grade
    assert events["band_change", "trader"].before == "NR"
    assert events["score_move", "investor"].detail["after_score"] == str(today.investor_score)
    if today.signal != "bearish":
        assert events["signal_flip", "signal"].before == "bearish"


def test_events_are_idempotent_and_follow_a_rewrite(tokens):
    ratings_backfill(start=DAY - dt.timedelta(days=30), end=DAY)
    count = RatingChange.objects.count()
    assert ratings_backfill(start=DAY - dt.timedelta(days=30), end=DAY).changes == 0
    assert RatingChange.objects.count() == count


def test_inputs_load_with_a_fixed_number_of_queries_per_chunk_of_tokens(tokens):
    """Loading inputs costs five queries per chunk of tokens, whatever the number of days."""
    universe = list(Token.objects.order_by("pk").values_list("pk", "category"))

    def load_queries(days: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            loading.load_inputs(universe, DAY - dt.timedelta(days=days - 1), DAY, chunk_size=2)
        return len(ctx.captured_queries)

    assert load_queries(1) == load_queries(60) == 3 * 5  # five tokens in chunks of two


def test_backfill_in_blocks_gives_the_same_ratings(tokens, monkeypatch):
    ratings_backfill(start=DAY - dt.timedelta(days=9), end=DAY)
    whole = {(r.token_id, r.date): content(r) for r in Rating.objects.all()}
    Rating.objects.all().delete()
    RatingChange.objects.all().delete()

    monkeypatch.setattr(services, "BLOCK_TOKEN_DAYS", 10)  # two days a block
    ratings_backfill(start=DAY - dt.timedelta(days=9), end=DAY)

    assert {(r.token_id, r.date): content(r) for r in Rating.objects.all()} == whole


def test_backfill_defaults_to_every_day_with_snapshots_and_reports_progress(tokens):
    ticks = []
    result = ratings_backfill(progress=ticks.append)
    assert result.days == 220 and sum(ticks) == 220
    assert Rating.objects.order_by("date").first().date == END - dt.timedelta(days=219)


def test_large_days_are_written_with_copy_to_the_same_rows(tokens, monkeypatch):
    """PostgreSQL writes a large day with COPY and one upsert; the rows are the same."""
    ratings_backfill(start=DAY - dt.timedelta(days=2), end=DAY)
    by_insert = {(r.token_id, r.date): content(r) for r in Rating.objects.all()}
    Rating.objects.all().delete()
    RatingChange.objects.all().delete()
    monkeypatch.setattr(services, "COPY_MIN_ROWS", 1)

    ratings_backfill(start=DAY - dt.timedelta(days=2), end=DAY)
    Rating.objects.filter(date=DAY).update(fingerprint="stale")  # force an update through COPY too
    assert ratings_recompute(day=DAY).written == 5

    assert {(r.token_id, r.date): content(r) for r in Rating.objects.all()} == by_insert
    assert LatestRating.objects.all().count() == 5


def test_rows_stored_meanwhile_by_another_writer_are_updated_not_duplicated(tokens, monkeypatch):
    """A day read as empty is written as an upsert: rows another writer stored meanwhile
    are updated to the same content, not duplicated."""
    ratings_recompute(day=DAY)
    want = {(r.token_id, r.date): content(r) for r in Rating.objects.all()}
    Rating.objects.filter(token__slug="alpha").update(fingerprint="stale", investor_score=None)
    monkeypatch.setattr(services, "COPY_MIN_ROWS", 1)
    monkeypatch.setattr(services, "_stored_fingerprints", lambda day, scope: {})  # as if read before the other write

    assert ratings_recompute(day=DAY).written == 5

    assert {(r.token_id, r.date): content(r) for r in Rating.objects.all()} == want


def test_database_rows_and_arrays_load_the_same_inputs(tokens, monkeypatch):
    """PostgreSQL's binary arrays of history and any database's plain rows agree exactly."""
    universe = list(Token.objects.order_by("pk").values_list("pk", "category"))
    start = DAY - dt.timedelta(days=5)
    native = loading.load_inputs(universe, start, DAY, chunk_size=2)

    monkeypatch.setattr(loading, "arrays_supported", lambda: False)
    portable = loading.load_inputs(universe, start, DAY, chunk_size=2)

    assert portable == native
    assert len(native) == 6 and all(len(day) == 5 for day in native.values())


@pytest.mark.django_db(transaction=True)
def test_chunks_fetched_ahead_on_other_connections_give_the_same_inputs(monkeypatch):
    """Outside a transaction, PostgreSQL fetches the next chunks on threads of their own."""
    rated_universe(days=200)
    universe = list(Token.objects.order_by("pk").values_list("pk", "category"))
    assert loading.prefetch_possible() == (connection.vendor == "postgresql")

    ahead = loading.load_inputs(universe, DAY - dt.timedelta(days=3), DAY, chunk_size=1)
    monkeypatch.setattr(loading, "prefetch_possible", lambda: False)
    one_by_one = loading.load_inputs(universe, DAY - dt.timedelta(days=3), DAY, chunk_size=1)

    assert ahead == one_by_one and sum(len(day) for day in ahead.values()) == 20


def test_negative_revenue_is_rated_with_its_missing_multiples_and_yields_as_missing(tokens, monkeypatch):
    """A month of negative revenue (refunds, incentives netted out) gives "—" for holder
    yield and holders' share: the ratings read those as missing, by either loading path."""
    gamma = Token.objects.get(slug="gamma")
    last_month = RevenueDay.objects.filter(token=gamma, date__gt=DAY - dt.timedelta(days=30))
    for day in last_month:
        day.revenue_usd, day.holders_revenue_usd = -day.revenue_usd, -day.holders_revenue_usd
        day.save(update_fields=["revenue_usd", "holders_revenue_usd"])
    snapshots_recompute(token_ids=[gamma.pk], since=DAY - dt.timedelta(days=5))
    universe = list(Token.objects.order_by("pk").values_list("pk", "category"))
    native = loading.load_inputs(universe, DAY, DAY, chunk_size=2)
    monkeypatch.setattr(loading, "arrays_supported", lambda: False)
    assert loading.load_inputs(universe, DAY, DAY, chunk_size=2) == native

    ratings_recompute(day=DAY)

    rating = ratings_on(DAY)["gamma"]
    assert Decimal(rating.inputs["revenue_annualised"]) < 0 and Decimal(rating.inputs["holders_revenue_annualised"]) < 0
    assert rating.inputs["holder_yield"] is None and rating.inputs["holders_share"] is None
    assert rating.investor_score is not None and rating.trader_score is not None
    # Ranked last on P/S (by revenue ÷ market cap), not left out.
    universe_score, _category, _score, ranked, _peers = rating.components["valuation"]["parts"]["ps"]
    assert ranked == 4 and universe_score == min(
        r.components["valuation"]["parts"]["ps"][0] for r in ratings_on(DAY).values() if r.investor_score is not None
    )


def test_zero_holders_revenue_ranks_last_on_holder_yield_rather_than_dropping_out(tokens):
    """Holder yield on 0 holders revenue shows "—" (a yield on nothing), but a token that pays
    its holders nothing must not be excused from the sub-metric: it ranks at the bottom."""
    gamma = Token.objects.get(slug="gamma")
    RevenueDay.objects.filter(token=gamma).update(holders_revenue_usd=0)
    snapshots_recompute(token_ids=[gamma.pk], since=DAY - dt.timedelta(days=5))

    ratings_recompute(day=DAY)

    rated = {slug: r for slug, r in ratings_on(DAY).items() if r.investor_score is not None}
    gamma_rating = rated["gamma"]
    assert gamma_rating.inputs["holder_yield"] is None
    parts = {slug: r.components["value_accrual"]["parts"]["holder_yield"] for slug, r in rated.items()}
    assert parts["gamma"][0] is not None
    assert parts["gamma"][0] == min(part[0] for part in parts.values() if part[0] is not None)


# --- each day's universe as it was then ------------------------------------------------------


def test_a_token_is_rated_only_on_the_days_it_was_priced(tokens):
    """No survivorship: a token listed later is not rated before its first price (though its
    revenue goes back further), and one delisted since keeps its ratings up to its last price
    (none after, though its revenue and a stale price carry on in its snapshots)."""
    late = TokenFactory(slug="late", category=Category.LENDING)
    gone = TokenFactory(slug="gone", category=Category.LENDING)
    listed, delisted = DAY - dt.timedelta(days=20), DAY - dt.timedelta(days=15)
    for item, seed in ((late, 6), (gone, 7)):
        add_history(item, days=200, daily_revenue=30_000, seed=seed)
    PriceDay.objects.filter(token=late, date__lt=listed).delete()
    PriceDay.objects.filter(token=gone, date__gt=delisted).delete()
    snapshots_recompute(token_ids=[late.pk, gone.pk])
    assert MetricSnapshot.objects.filter(token=late, date__lt=listed).exists()  # revenue alone
    assert MetricSnapshot.objects.filter(token=gone, date__gt=delisted).exists()  # a stale price carried

    ratings_backfill(start=DAY - dt.timedelta(days=30), end=DAY)

    days = {
        slug: set(Rating.objects.filter(token__slug=slug).values_list("date", flat=True)) for slug in ("late", "gone")
    }
    assert min(days["late"]) == listed and len(days["late"]) == 21
    assert max(days["gone"]) == delisted and len(days["gone"]) == 16
    rated = Counter(Rating.objects.values_list("date", flat=True))
    assert rated[listed - dt.timedelta(days=1)] == 6 and rated[listed] == 7  # the five, gone; and late
    assert rated[delisted] == 7 and rated[delisted + dt.timedelta(days=1)] == 6


def test_burned_share_is_measured_against_the_supply_of_the_day(tokens):
    """A token that burned 1M tokens 50 days ago and 9M more 10 days ago, its circulating
    supply falling from 100M to 90M: 30 days ago 1M had been burned out of a supply of 100M
    before it (1M ÷ (99.99…M + 1M)… the day's market cap ÷ price is 100M), not out of
    today's 90M."""
    alpha = Token.objects.get(slug="alpha")
    Token.objects.filter(pk=alpha.pk).update(total_supply=Decimal("90000000"), max_supply=None)
    first, second = DAY - dt.timedelta(days=50), DAY - dt.timedelta(days=10)
    AccrualEventFactory(token=alpha, date=first, kind=AccrualEvent.Kind.BURN, token_amount=Decimal("1000000"))
    AccrualEventFactory(token=alpha, date=second, kind=AccrualEvent.Kind.BURN, token_amount=Decimal("9000000"))
    for price_day in PriceDay.objects.filter(token=alpha, date__gte=second):
        price_day.market_cap_usd = (price_day.price_usd * 90_000_000).quantize(Decimal("0.0001"))
        price_day.save()
    snapshots_recompute(token_ids=[alpha.pk])
    then = DAY - dt.timedelta(days=30)

    ratings_backfill(start=first - dt.timedelta(days=1), end=DAY)

    shares = dict(Rating.objects.filter(token=alpha).values_list("date", "inputs__burned_share"))
    assert shares[first - dt.timedelta(days=1)] is None  # no burn yet
    assert shares[then] == "0.00990099"  # 1M ÷ (100M + 1M), not 1M ÷ (90M + 1M) = 0.010989
    assert shares[DAY] == "0.1"  # 10M ÷ (90M + 10M)
    assert MetricSnapshot.objects.get(token=alpha, date=then).burned_share == Decimal("0.0109890110")  # today's supply
    others = Rating.objects.filter(date=DAY).exclude(token=alpha).values_list("inputs__burned_share", flat=True)
    assert set(others) == {None}  # no burn recorded
