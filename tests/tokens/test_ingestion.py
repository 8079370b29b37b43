"""Sample load: the provider files go through the same parsers and upserts as live data."""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.apps import apps as django_apps

from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import (
    AccrualEvent,
    AccrualPolicy,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    SyncRun,
    Token,
)
from apps.tokens.providers.base import ProviderDataError
from apps.tokens.providers.sample import SampleProvider

from .sample_builder import AS_OF, write_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample_dir(tmp_path):
    return write_sample(tmp_path / "sample")


# When each token was last asked for each kind of data: the per-token part of the log of runs.
FETCH_TIMES = ("quoted_at", "price_history_at", "revenue_history_at")


def database_state(without: tuple[str, ...] = ()) -> dict:
    """Every row of every Accrual table, without surrogate ids that a reload may renumber
    (nor the fields named in ``without``)."""
    state = {}
    skipped = {"id", "updated_at", "created_at", *without}
    for model in django_apps.get_app_config("tokens").get_models():
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skipped]
        state[model.__name__] = sorted(map(repr, model.objects.values_list(*fields)))
    return state


def test_loading_the_same_sample_twice_leaves_the_same_database(sample_dir):
    sample_data_load(provider=SampleProvider(sample_dir))
    first = database_state()
    sample_data_load(provider=SampleProvider(sample_dir))
    assert database_state() == first
    assert SyncRun.objects.filter(provider=Source.SAMPLE).count() == 1


def test_sample_load_writes_tokens_facts_and_provenance(sample_dir):
    result = sample_data_load(provider=SampleProvider(sample_dir))
    assert result.tokens == 3
    alpha = Token.objects.get(slug="alpha")
    assert alpha.symbol == "ALP"
    assert sorted(alpha.chains.values_list("slug", flat=True)) == ["ethereum", "solana"]
    assert alpha.max_supply == D("1000000000")
    assert PriceDay.objects.filter(token=alpha).count() == 181  # 180 days and today
    assert RevenueDay.objects.filter(token=alpha).count() == 180
    day = RevenueDay.objects.get(token=alpha, date=dt.date(2026, 2, 28))
    assert (day.fees_usd, day.revenue_usd, day.holders_revenue_usd) == (D("100000"), D("50000"), D("25000"))
    assert day.source == Source.SAMPLE and day.fetched_at == AS_OF and day.sync_run is not None
    assert AccrualPolicy.objects.get(token=alpha).share_of_revenue == D("0.5")
    assert AccrualEvent.objects.filter(token=alpha, kind="buyback").count() == 5
    report = RevenueReport.objects.get(token=alpha, period="arr")
    # A sample catalogue's report is generated: not an editor's, and citing no outside page.
    assert (report.source, report.source_url, report.revenue_usd) == (Source.SAMPLE, "", D("5500000"))
    run = SyncRun.objects.get(provider=Source.SAMPLE)
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_written > 0


def test_latest_snapshot_has_hand_computed_metrics(sample_dir):
    sample_data_load(provider=SampleProvider(sample_dir))
    snap = Token.objects.select_related("latest_snapshot").get(slug="alpha").latest_snapshot
    assert snap.date == dt.date(2026, 3, 1)
    assert snap.price_usd == D("10") and snap.market_cap_usd == D("1000000000") and snap.fdv_usd == D("2000000000")
    # Revenue window: 2026-01-30 .. 2026-02-28 at 50k a day = 1.5M; annualised 18.25M.
    assert snap.revenue_30d == D("1500000")
    assert snap.revenue_annualised == D("18250000")
    assert snap.fees_annualised == D("36500000")
    assert snap.holders_revenue_annualised == D("9125000")
    assert snap.ps == D("54.7945205479")  # 1e9 / 18.25e6
    assert snap.ps_fdv == D("109.5890410959")
    assert snap.pf == D("27.3972602740")
    assert snap.phr == D("109.5890410959")
    assert snap.holder_yield == D("0.0091250000")
    assert snap.holders_share == D("0.5000000000")
    assert snap.revenue_growth_30d == D("0.2500000000")  # 1.5M over 1.2M
    assert snap.revenue_growth_90d == D("0.0833333333")  # 3.9M over 3.6M
    assert snap.buybacks_30d == D("280000")  # four weekly buybacks of 70k
    assert snap.buyback_yield == D("0.0034066667")  # 280k * 365/30 / 1e9
    assert snap.burned_share == D("0.0100000000")  # 10M of 1B
    assert snap.price_change_7d == D("0")
    assert snap.price_source == Source.SAMPLE
    assert snap.price_as_of == dt.datetime(2026, 3, 1, 0, 4, 12, tzinfo=dt.UTC)
    assert snap.revenue_as_of == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_token_without_revenue_has_no_revenue_metrics(sample_dir):
    sample_data_load(provider=SampleProvider(sample_dir))
    beta = Token.objects.select_related("latest_snapshot").get(slug="beta").latest_snapshot
    assert beta.price_usd == D("2")
    assert beta.revenue_annualised is None and beta.ps is None and beta.holder_yield is None
    gamma = Token.objects.select_related("latest_snapshot").get(slug="gamma").latest_snapshot
    assert gamma.revenue_annualised is None  # 20 days of revenue cannot be annualised
    assert gamma.fees_annualised is None


def test_snapshots_cover_every_day_and_never_read_the_future(sample_dir):
    sample_data_load(provider=SampleProvider(sample_dir))
    alpha = Token.objects.get(slug="alpha")
    assert MetricSnapshot.objects.filter(token=alpha).count() == 181
    # On 2026-02-10 the last 30 days straddle the step from 40k to 50k a day.
    snap = MetricSnapshot.objects.get(token=alpha, date=dt.date(2026, 2, 10))
    # Window 2026-01-12 .. 2026-02-10: 18 days at 40k (to 2026-01-29) and 12 days at 50k.
    assert snap.revenue_30d == D(18 * 40000 + 12 * 50000)
    # Nothing after the day leaks in: the same figure as computed from the facts up to it.
    window = RevenueDay.objects.filter(token=alpha, date__range=(dt.date(2026, 1, 12), dt.date(2026, 2, 10)))
    assert sum(d.revenue_usd for d in window) == snap.revenue_30d


def test_monthly_and_quarterly_reports_are_built_from_daily_facts(sample_dir):
    sample_data_load(provider=SampleProvider(sample_dir))
    alpha = Token.objects.get(slug="alpha")
    feb = RevenueReport.objects.get(token=alpha, period="month", period_start=dt.date(2026, 2, 1))
    assert feb.period_end == dt.date(2026, 2, 28)
    # February: 1st..29th? No: Feb 2026 has 28 days; 2026-01-30 onwards is 50k a day.
    assert feb.revenue_usd == D(28 * 50000)
    assert feb.days_covered == 28
    assert feb.buybacks_usd == D(4 * 70000)  # 2026-02-07, -14, -21, -28
    q1 = RevenueReport.objects.get(token=alpha, period="quarter", period_start=dt.date(2026, 1, 1))
    assert q1.period_end == dt.date(2026, 3, 31)
    assert q1.revenue_usd == D(29 * 40000 + 2 * 50000 + 28 * 50000)


def test_truncated_json_writes_nothing_and_records_the_failure(sample_dir):
    path = sample_dir / "defillama" / "summary_fees" / "alpha-llama" / "dailyRevenue.json"
    path.write_text(path.read_text()[:500])
    with pytest.raises(ProviderDataError, match="truncated"):
        sample_data_load(provider=SampleProvider(sample_dir))
    assert not Token.objects.exists() and not PriceDay.objects.exists()
    run = SyncRun.objects.get(provider=Source.SAMPLE)
    assert run.status == SyncRun.Status.FAILED and "truncated" in run.error


def test_string_where_a_number_belongs_writes_nothing(sample_dir):
    path = sample_dir / "coingecko" / "coins_markets.json"
    path.write_text(path.read_text().replace('"current_price": 10', '"current_price": "10"', 1))
    with pytest.raises(ProviderDataError, match="expected a number"):
        sample_data_load(provider=SampleProvider(sample_dir))
    assert not Token.objects.exists()


def test_a_changed_fact_is_updated_in_place_on_reload(tmp_path):
    sample_data_load(provider=SampleProvider(write_sample(tmp_path / "a")))
    sample_data_load(provider=SampleProvider(write_sample(tmp_path / "b", alpha_revenue_scale=2.0)))
    alpha = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    assert RevenueDay.objects.filter(token=alpha).count() == 180
    assert alpha.latest_snapshot.revenue_30d == D("3000000")


def test_load_command_skips_a_data_set_already_loaded_unless_forced(sample_dir):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("load_sample_data", data_dir=str(sample_dir), no_progress=True, stdout=out)
    assert "Sample data loaded: 3 tokens" in out.getvalue()
    call_command("load_sample_data", data_dir=str(sample_dir), no_progress=True, stdout=out)
    assert "already loaded" in out.getvalue()
    call_command("load_sample_data", data_dir=str(sample_dir), no_progress=True, force=True, stdout=out)
    assert out.getvalue().count("Sample data loaded") == 2


def test_load_command_reports_a_missing_data_set_clearly(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Sample data not loaded"):
        call_command("load_sample_data", data_dir=str(tmp_path / "nowhere"), no_progress=True)


def test_pages_say_sample_data_as_of_the_data_time(sample_dir, client):
    from apps.tokens.selectors import data_status

    sample_data_load(provider=SampleProvider(sample_dir))
    status = data_status()
    assert status.mode == "sample"
    assert status.as_of == dt.datetime(2026, 3, 1, 0, 4, 12, tzinfo=dt.UTC)
    for url in ("/", "/tokens/", "/tokens/alpha/"):
        assert "Sample data as of 2026-03-01" in client.get(url).content.decode()


def _add_events(sample_dir, *events: dict) -> None:
    import json

    path = sample_dir / "catalogue.json"
    catalogue = json.loads(path.read_text())
    catalogue["events"].extend(events)
    path.write_text(json.dumps(catalogue))


def _event(kind: str, day: str, usd: str | None, tokens: str | None) -> dict:
    return {"token": "alpha", "date": day, "kind": kind, "usd_amount": usd, "token_amount": tokens,
            "reference": f"{kind}-{day}", "note": ""}  # fmt: skip


def test_a_buy_and_burn_counts_in_buybacks_reports_and_burned_share(sample_dir):
    _add_events(
        sample_dir,
        _event("buyback-burn", "2026-02-20", "30000", "3000000"),  # bought from the market, then burned
        _event("burn", "2026-02-21", "99000", "1000000"),  # a fee burn: tokens not bought
    )
    sample_data_load(provider=SampleProvider(sample_dir))
    alpha = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    snap = alpha.latest_snapshot
    assert snap.buybacks_30d == D("310000")  # four weekly buybacks of 70k and the 30k buy-and-burn
    assert snap.buyback_yield == D("0.0037716667")  # 310k × 365/30 ÷ 1e9
    assert snap.burned_share == D("0.0140000000")  # 10M + 3M + 1M of 1B
    feb = RevenueReport.objects.get(token=alpha, period="month", period_start=dt.date(2026, 2, 1))
    assert feb.buybacks_usd == D(4 * 70000 + 30000)
    assert AccrualEvent.objects.get(token=alpha, kind="buyback-burn").get_kind_display() == "Buy and burn"


def test_an_event_of_unknown_kind_writes_nothing(sample_dir):
    _add_events(sample_dir, _event("buy-and-burn", "2026-02-20", "30000", "3000000"))
    with pytest.raises(ProviderDataError, match="unknown kind 'buy-and-burn'"):
        sample_data_load(provider=SampleProvider(sample_dir))
    assert not Token.objects.exists() and not AccrualEvent.objects.exists()
