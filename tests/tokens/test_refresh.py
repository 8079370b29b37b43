"""Refresh services against the sample provider and failing fakes (no network)."""

import datetime as dt
from decimal import Decimal as D

import pytest

from apps.tokens import history, refresh
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import MetricSnapshot, PriceDay, RevenueDay, SyncRun, Token
from apps.tokens.providers.base import ProviderDataError, RevenuePoint
from apps.tokens.providers.sample import SampleProvider
from tests.support.data_set import hold

from .sample_builder import write_sample
from .test_ingestion import FETCH_TIMES, database_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(tmp_path):
    return SampleProvider(write_sample(tmp_path / "sample"))


@pytest.fixture
def loaded(provider):
    sample_data_load(provider=provider)
    return provider


@pytest.fixture
def as_live(loaded):
    """The loaded facts taken as live data, for the stand-ins of live providers to refresh."""
    hold("live")


class FailingRevenue:
    source = "defillama"

    def __init__(self, failing: set[str], good: SampleProvider):
        self.failing, self.good = failing, good

    def revenue_history(self, slug, since=None):
        if slug in self.failing:
            raise ProviderDataError(f"summary/fees/{slug}: field 'totalDataChart' is missing")
        return self.good.revenue_history(slug, since=since)


def test_market_refresh_records_its_run_and_updates_todays_snapshot(loaded):
    Token.objects.filter(slug="alpha").update(latest_snapshot=None)
    result = refresh.market_refresh(provider=loaded)
    assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.kind == "markets"
    assert result.run.rows_written == 0  # the same quotes again: nothing to write
    alpha = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    assert alpha.latest_snapshot.date == dt.date(2026, 3, 1)


def test_refreshing_twice_with_the_same_input_changes_nothing(loaded):
    history.revenue_refresh(provider=loaded, backfill=True)
    history.price_history_refresh(provider=loaded, backfill_days=400)
    refresh.market_refresh(provider=loaded)
    before = database_state(without=FETCH_TIMES)
    history.revenue_refresh(provider=loaded, backfill=True)
    history.price_history_refresh(provider=loaded, backfill_days=400)
    refresh.market_refresh(provider=loaded)
    after = database_state(without=FETCH_TIMES)
    # Every table is identical but the log of runs, which gains the second runs, and the
    # tokens' fetch times (when each was last asked: the same log, token by token).
    assert len(after.pop("SyncRun")) == len(before.pop("SyncRun")) + 3
    assert after == before


def test_incremental_revenue_refresh_reads_only_recent_days(loaded):
    alpha = Token.objects.get(slug="alpha")
    RevenueDay.objects.filter(token=alpha, date__gte=dt.date(2026, 2, 27)).delete()  # two new days upstream
    RevenueDay.objects.filter(token=alpha, date=dt.date(2025, 12, 1)).update(revenue_usd=0)  # an old edit
    result = history.revenue_refresh(provider=loaded)
    assert result.run.rows_written == 2 and result.changed_tokens == {alpha.pk}
    assert RevenueDay.objects.get(token=alpha, date=dt.date(2025, 12, 1)).revenue_usd == 0  # not re-read
    assert Token.objects.select_related("latest_snapshot").get(pk=alpha.pk).latest_snapshot.revenue_30d == D("1500000")
    backfill = history.revenue_refresh(provider=loaded, backfill=True)
    assert backfill.run.rows_written == 1
    assert RevenueDay.objects.get(token=alpha, date=dt.date(2025, 12, 1)).revenue_usd == D("40000")


def test_a_refresh_with_nothing_new_writes_nothing(loaded):
    snapshots_before = list(MetricSnapshot.objects.values_list("pk", "computed_at"))
    for result in (
        history.revenue_refresh(provider=loaded, backfill=True),
        history.price_history_refresh(provider=loaded, backfill_days=400),
        refresh.market_refresh(provider=loaded),
    ):
        assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.rows_written == 0
    assert list(MetricSnapshot.objects.values_list("pk", "computed_at")) == snapshots_before


def test_a_token_without_history_is_backfilled(provider):
    sample_data_load(provider=provider)
    alpha = Token.objects.get(slug="alpha")
    PriceDay.objects.filter(token=alpha).delete()
    Token.objects.filter(pk=alpha.pk).update(price_history_at=None)  # never backfilled
    history.price_history_refresh(provider=provider, backfill_days=30)
    days = PriceDay.objects.filter(token=alpha)
    assert days.count() == 31  # 30 days back from the newest point, inclusive


def test_a_failed_protocol_writes_nothing_for_it_and_is_recorded(loaded, as_live):
    RevenueDay.objects.all().delete()
    result = history.revenue_refresh(provider=FailingRevenue({"alpha-llama"}, loaded), backfill=True)
    assert not RevenueDay.objects.filter(token__slug="alpha").exists()
    assert RevenueDay.objects.filter(token__slug="gamma").count() == 20
    run = SyncRun.objects.get(pk=result.run.pk)
    assert "alpha-llama" in run.error and "totalDataChart" in run.error


def test_a_failed_market_call_keeps_the_last_good_data(loaded, as_live):
    class Down:
        source = "coingecko"

        def markets(self, ids):
            raise ProviderDataError("coins/markets: expected an array, got str")

    before = Token.objects.select_related("latest_snapshot").get(slug="alpha").latest_snapshot
    result = refresh.market_refresh(provider=Down())
    assert result.run.status == SyncRun.Status.FAILED
    assert "expected an array" in result.run.error
    after = Token.objects.select_related("latest_snapshot").get(slug="alpha").latest_snapshot
    assert after.pk == before.pk and after.price_usd == before.price_usd


def test_a_database_failure_mid_write_writes_nothing_and_records_why(loaded, monkeypatch):
    """A day's first quotes are COPYed in: should another writer have stored one of those days
    meanwhile, the COPY fails. Nothing of the refresh stays, its run says why, and the error
    goes up to the task (which retries database errors)."""
    from django.db import IntegrityError

    from apps.tokens import bulk

    def collides(*args, **kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "priceday_unique"')

    def facts() -> dict:
        return {model: rows for model, rows in database_state().items() if model != "SyncRun"}

    before = facts()
    monkeypatch.setattr(bulk, "insert_new", collides)
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)  # the sample's few quotes take the COPY path
    quotes = loaded.markets(None)
    next_day = max(q.last_updated for q in quotes) + dt.timedelta(days=1)
    monkeypatch.setattr(loaded, "markets", lambda ids: [q._replace(last_updated=next_day) for q in quotes])
    with pytest.raises(IntegrityError):
        refresh.market_refresh(provider=loaded)
    run = SyncRun.objects.filter(kind="markets").latest("started_at")
    assert run.status == SyncRun.Status.FAILED and "IntegrityError: duplicate key" in run.error
    assert facts() == before


def test_revised_revenue_updates_snapshots(loaded, as_live):
    class Revised:
        source = "defillama"

        def revenue_history(self, slug, since=None):
            points = loaded.revenue_history(slug, since=since)
            return [
                RevenuePoint(p.defillama_slug, p.date, p.fees, (p.revenue or 0) * 2, p.holders_revenue)
                if p.date == dt.date(2026, 2, 28)
                else p
                for p in points
            ]

    history.revenue_refresh(provider=Revised())
    snap = MetricSnapshot.objects.get(token__slug="alpha", date=dt.date(2026, 3, 1))
    assert snap.revenue_30d == D("1550000")  # one day of 50k became 100k


def test_token_page_marks_figures_older_than_their_threshold_as_stale(loaded, client, settings):
    from apps.tokens.selectors import is_stale

    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert is_stale(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), kind="price", source="coingecko", now=now)
    assert not is_stale(dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC), kind="price", source="coingecko", now=now)
    assert not is_stale(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), kind="price", source="sample", now=now)
    assert not is_stale(None, kind="revenue", now=now)

    # Live figures from days ago (the provider has been failing): shown, with their as-of, as stale.
    MetricSnapshot.objects.update(price_source="coingecko", revenue_source="defillama")
    page = client.get("/tokens/alpha/").content.decode()
    assert page.count(">Stale<") == 2
    assert "2026-03-01 00:04 UTC" in page


def test_repricing_gives_exactly_what_a_full_recompute_gives(loaded):
    from apps.tokens.snapshots import SNAPSHOT_FIELDS, snapshots_recompute, snapshots_reprice

    day = dt.date(2026, 3, 1)
    fields = [f for f in SNAPSHOT_FIELDS if f != "computed_at"]
    # A new quote moves the price: reprice from the carried revenue side...
    PriceDay.objects.filter(date=day).update(price_usd=D("12.5"), market_cap_usd=D("1250000000"))
    snapshots_reprice(token_ids=Token.objects.values_list("pk", flat=True), day=day)
    repriced = {s.token_id: [getattr(s, f) for f in fields] for s in MetricSnapshot.objects.filter(date=day)}
    # ...and from all the facts.
    MetricSnapshot.objects.filter(date=day).delete()
    snapshots_recompute(since=day)
    full = {s.token_id: [getattr(s, f) for f in fields] for s in MetricSnapshot.objects.filter(date=day)}
    assert repriced == full
    alpha = Token.objects.get(slug="alpha")
    assert MetricSnapshot.objects.get(token=alpha, date=day).ps == D("68.4931506849")  # 1.25e9 / 18.25e6


def test_repricing_a_new_day_carries_revenue_and_moves_buyback_window(loaded):
    from apps.tokens.snapshots import snapshots_recompute, snapshots_reprice

    day = dt.date(2026, 3, 2)
    alpha = Token.objects.get(slug="alpha")
    PriceDay.objects.create(
        token=alpha, date=day, price_usd=D("10"), market_cap_usd=D("1000000000"), fdv_usd=D("2000000000"),
        volume_usd=D("1"), observed_at=dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC), source="coingecko",
        fetched_at=dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC),
    )  # fmt: skip
    snapshots_reprice(token_ids=[alpha.pk], day=day)
    repriced = MetricSnapshot.objects.get(token=alpha, date=day)
    snapshots_recompute(token_ids=[alpha.pk], since=day)
    full = MetricSnapshot.objects.get(token=alpha, date=day)
    assert repriced.computed_at == full.computed_at  # the full recompute found nothing to change
    assert repriced.revenue_30d == D("1500000") and repriced.buybacks_30d == D("280000")
    assert Token.objects.get(pk=alpha.pk).latest_snapshot_id == repriced.pk


class Restated:
    """The sample's quotes with new supplies and no FDV (so the FDV comes from the supplies),
    on ``days`` (each quote once, the tokens spread over the days)."""

    source = "coingecko"

    def __init__(self, good: SampleProvider, days: list[dt.date]):
        self.good, self.days = good, days

    def markets(self, ids):
        quotes = []
        for i, quote in enumerate(self.good.markets(ids)):
            day = self.days[i % len(self.days)]
            quotes.append(
                quote._replace(
                    last_updated=quote.last_updated.replace(year=day.year, month=day.month, day=day.day),
                    fdv=None,
                    total_supply=D(7_000_000_000) + i,
                    max_supply=None if i % 2 else D(9_000_000_000) + i,
                )
            )
        return quotes


@pytest.mark.parametrize(
    "days", [[dt.date(2026, 3, 1)], [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]], ids=["one", "two"]
)
def test_new_supplies_are_stored_and_priced_by_the_same_refresh(loaded, as_live, days):
    """The market refresh stores quoted supplies with the snapshots' pointers (one rewrite of
    each token); the figures use the new supplies, exactly as a full recompute does."""
    from apps.tokens.snapshots import SNAPSHOT_FIELDS, snapshots_recompute

    provider = Restated(loaded, days)
    quotes = {q.coingecko_id: q for q in provider.markets(None)}
    result = refresh.market_refresh(provider=provider)
    assert result.run.status == SyncRun.Status.SUCCEEDED
    fields = [f for f in SNAPSHOT_FIELDS if f != "computed_at"]
    repriced = {}
    for token in Token.objects.exclude(coingecko_id=None).select_related("latest_snapshot"):
        quote = quotes[token.coingecko_id]
        assert (token.total_supply, token.max_supply) == (quote.total_supply, quote.max_supply)
        snapshot = token.latest_snapshot
        assert snapshot.date == quote.last_updated.date()
        supply = quote.max_supply or quote.total_supply
        assert snapshot.fdv_usd == (snapshot.price_usd * supply).quantize(D("0.0001"))
        repriced[token.pk] = [getattr(snapshot, f) for f in fields]
    snapshots_recompute(since=days[0])
    full = {
        token.pk: [getattr(token.latest_snapshot, f) for f in fields]
        for token in Token.objects.exclude(coingecko_id=None).select_related("latest_snapshot")
    }
    assert repriced == full


def test_a_market_refresh_rewrites_each_quoted_token_once(loaded, as_live):
    """Supplies and the latest-snapshot pointer go into the same UPDATE of each token: two
    rewrites in one transaction would not both fit the page's free space, and the second
    would then add an entry to every index of the table (bench/README.md)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statistics of this transaction")

    def token_updates() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'tokens_token'")
            return cursor.fetchone()[0]

    quoted = Token.objects.exclude(coingecko_id=None).count()
    before = token_updates()
    result = refresh.market_refresh(provider=Restated(loaded, [dt.date(2026, 3, 2)]))  # new supplies, a new day
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert MetricSnapshot.objects.filter(date=dt.date(2026, 3, 2)).count() == quoted
    assert token_updates() - before == quoted
