"""A database holds one data set, sample or live, and says which (issue 10).

GIVEN a database that records the data set it holds
WHEN the sample is loaded, or a live provider (a stand-in server on 127.0.0.1) refreshes
THEN the first one that writes records its set, the other is refused with the command that
clears the database and changes nothing, pages say "sample" only for a sample database, and
``refresh_data`` leaves the ratings agreeing with the new facts as the scheduled tasks do.
"""

from __future__ import annotations

import importlib
import io
import re
from decimal import Decimal as D

import pytest
from django.apps import apps as django_apps
from django.contrib import messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.ratings.models import Rating
from apps.ratings.templatetags.ratings_format import input_value
from apps.tokens import history, refresh, services, tasks
from apps.tokens.data_set import DataSetConflict, data_set_held
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import AccrualEvent, DataSet, PriceDay, RevenueReport, Source, SyncRun, Token
from apps.tokens.providers.coingecko import CoinGeckoClient
from apps.tokens.providers.defillama import DefiLlamaClient
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.selectors import data_status
from tests.factories import UserFactory

from .sample_builder import AS_OF

pytestmark = pytest.mark.django_db

CLEAR = "python manage.py clear_data"
BANNER = "Sample data as of 2026-03-01 — figures generated for illustration, not market data."


def state() -> dict:
    """Every row of every table a data set lives in (tokens' and ratings'), ids left out."""
    rows = {}
    for label in ("tokens", "ratings"):
        for model in django_apps.get_app_config(label).get_models():
            skip = {"id", "updated_at", "created_at"}
            fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
            rows[model.__name__] = sorted(map(repr, model.objects.values_list(*fields)))
    return rows


@pytest.fixture
def live(settings, server):
    """Settings for live providers, which are the stand-in server."""
    settings.ACCRUAL_DATA_MODE = "live"
    settings.COINGECKO_BASE_URL = f"{server.url}/cg"
    settings.DEFILLAMA_BASE_URL = f"{server.url}/llama"
    settings.COINGECKO_RATE_LIMIT_PER_MINUTE = 0
    settings.DEFILLAMA_RATE_LIMIT_PER_MINUTE = 0
    settings.PROVIDER_MAX_ATTEMPTS = 1
    return server


def track(data_dir) -> None:
    """Tokens an editor added (the recorded catalogue), no figures yet: a new live deployment."""
    catalogue = SampleProvider(data_dir).catalogue()
    services.catalogue_upsert(catalogue=catalogue, source=Source.EDITOR, fetched_at=AS_OF)


@pytest.fixture
def tracked(data_dir):
    track(data_dir)


@pytest.fixture
def live_database(live, tracked):
    """Facts fetched from the live stand-ins by refresh_data, as an operator would."""
    call_command("refresh_data", stdout=io.StringIO(), stderr=io.StringIO())
    assert data_set_held() == DataSet.Mode.LIVE
    return live


@pytest.fixture
def sample_database(data_dir):
    sample_data_load(provider=SampleProvider(data_dir))
    return data_dir


def coingecko(server) -> CoinGeckoClient:
    return CoinGeckoClient(f"{server.url}/cg", None, max_attempts=1, sleep=lambda s: None)


def defillama(server) -> DefiLlamaClient:
    return DefiLlamaClient(f"{server.url}/llama", None, max_attempts=1, sleep=lambda s: None)


# --- the record ------------------------------------------------------------------


def test_an_empty_database_records_no_data_set(client):
    assert data_set_held() == ""
    assert data_status().mode == ""
    assert "Sample data" not in client.get("/").content.decode()


def test_the_first_sample_load_records_sample(sample_database):
    assert DataSet.objects.get().mode == DataSet.Mode.SAMPLE


def test_the_first_live_refresh_that_writes_records_live(live, tracked):
    live.inject("/cg/coins/markets", 500)
    failed = refresh.market_refresh(provider=coingecko(live))
    assert failed.run.status == SyncRun.Status.FAILED
    assert data_set_held() == ""  # nothing written, nothing recorded

    result = refresh.market_refresh(provider=coingecko(live))

    assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.rows_written
    assert data_set_held() == DataSet.Mode.LIVE


def _infer() -> None:
    migration = importlib.import_module("apps.tokens.migrations.0010_data_set_record")
    DataSet.objects.all().delete()
    migration.infer_data_set(django_apps, None)


def test_the_migration_infers_sample_from_a_sample_load_even_mixed_with_live_figures(sample_database):
    PriceDay.objects.filter(date=AS_OF.date()).update(source=Source.COINGECKO)  # a live refresh since

    _infer()

    assert data_set_held() == DataSet.Mode.SAMPLE


def test_the_migration_infers_live_from_live_figures_only(live_database):
    _infer()
    assert data_set_held() == DataSet.Mode.LIVE
    assert RevenueReport.objects.filter(source=Source.EDITOR).exists()  # an editor's stay the editor's


def test_the_migration_records_nothing_for_an_empty_database(tracked):
    _infer()
    assert not DataSet.objects.exists()


# --- refusals ----------------------------------------------------------------------


def test_loading_the_sample_into_a_live_database_is_refused_and_changes_nothing(live_database, data_dir):
    before = state()

    with pytest.raises(CommandError, match=re.escape(CLEAR)) as refused:
        call_command("load_sample_data", data_dir=str(data_dir), no_progress=True, force=True)
    with pytest.raises(DataSetConflict, match=re.escape(CLEAR)):
        sample_data_load(provider=SampleProvider(data_dir))

    assert "holds live data" in str(refused.value)
    assert state() == before


LIVE_REFRESHES = {
    "markets": lambda server: refresh.market_refresh(provider=coingecko(server)),
    "price-history": lambda server: history.price_history_refresh(provider=coingecko(server)),
    "revenue-history": lambda server: history.revenue_refresh(provider=defillama(server), backfill=True),
    # The daily run, which would first ask the overview for yesterday (the sample ends the day before).
    "revenue-daily": lambda server: history.revenue_refresh(provider=defillama(server), today=AS_OF.date()),
    "mapping": lambda server: refresh.mapping_refresh(provider=defillama(server)),
}


@pytest.mark.parametrize("kind", LIVE_REFRESHES)
def test_a_live_refresh_of_a_sample_database_is_refused_and_changes_nothing(sample_database, server, kind):
    before = state()

    result = LIVE_REFRESHES[kind](server)

    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.status == SyncRun.Status.FAILED and run.kind == kind.replace("revenue-daily", "revenue-history")
    assert "holds the sample data set" in run.error and CLEAR in run.error
    assert not server.requests  # refused before any provider is asked
    after = state()
    assert len(after.pop("SyncRun")) == len(before.pop("SyncRun")) + 1
    assert after == before


def test_the_sample_provider_refuses_a_live_database(live_database, data_dir):
    before = state()

    result = refresh.market_refresh(provider=SampleProvider(data_dir))

    assert result.run.status == SyncRun.Status.FAILED and "holds live data" in result.run.error
    assert CLEAR in result.run.error
    after = state()
    assert len(after.pop("SyncRun")) == len(before.pop("SyncRun")) + 1
    assert after == before


@pytest.mark.parametrize("task", ["refresh_markets", "refresh_price_history", "refresh_revenue", "refresh_mapping"])
def test_a_refused_task_records_a_failed_run_and_neither_raises_nor_retries(sample_database, live, task):
    before = state()

    outcome = getattr(tasks, task).apply()

    assert outcome.successful()  # no exception: nothing for Celery to retry
    assert outcome.result["status"] == SyncRun.Status.FAILED and outcome.result["rows"] == 0
    run = SyncRun.objects.get(pk=outcome.result["run"])
    assert CLEAR in run.error
    after = state()
    assert len(after.pop("SyncRun")) == len(before.pop("SyncRun")) + 1
    assert after == before
    assert not live.requests


def test_refresh_data_refuses_a_sample_database_naming_the_clear_command(sample_database, live):
    before = state()

    with pytest.raises(CommandError, match=re.escape(CLEAR)):
        call_command("refresh_data", stdout=io.StringIO(), stderr=io.StringIO())

    assert state() == before
    assert not live.requests


def test_refresh_now_in_the_admin_refuses_a_sample_database(
    sample_database, live, client, django_capture_on_commit_callbacks
):
    run = SyncRun.objects.create(provider="sample", kind="markets", started_at=AS_OF)  # a sample refresh
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    before = state()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            reverse("admin:tokens_syncrun_changelist"),
            {"action": "refresh_now", "_selected_action": [run.pk]},
            follow=True,
        )

    shown = [(m.level, m.message) for m in response.context["messages"]]
    assert any(level == messages.ERROR and CLEAR in text for level, text in shown), shown
    assert not queued
    assert state() == before


# --- clearing ----------------------------------------------------------------------


def test_clear_data_empties_every_data_table_and_the_record_and_keeps_users(sample_database, live):
    user = UserFactory()
    assert data_status().mode == DataSet.Mode.SAMPLE  # cached now
    out = io.StringIO()

    call_command("clear_data", interactive=False, no_progress=True, stdout=out)

    assert all(rows == [] for rows in state().values())
    assert data_set_held() == "" and data_status().mode == ""  # the cached status went with it
    assert type(user).objects.filter(pk=user.pk).exists()
    assert "holds sample" in out.getvalue() and "Cleared" in out.getvalue()

    # Either set may come next: here, live data for the tokens an editor adds.
    track(sample_database)
    call_command("refresh_data", stdout=io.StringIO(), stderr=io.StringIO())
    assert data_set_held() == DataSet.Mode.LIVE
    assert not PriceDay.objects.filter(source=Source.SAMPLE).exists() and PriceDay.objects.exists()


def test_clear_data_asks_first_and_an_answer_other_than_yes_deletes_nothing(sample_database, monkeypatch):
    before = state()
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "no")
    out = io.StringIO()

    call_command("clear_data", no_progress=True, stdout=out)

    assert asked and "yes" in asked[0]
    assert "nothing deleted" in out.getvalue()
    assert state() == before


def test_clear_data_answered_yes_deletes(sample_database, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    call_command("clear_data", no_progress=True, stdout=io.StringIO())
    assert not Token.objects.exists() and not DataSet.objects.exists()


# --- what pages say ----------------------------------------------------------------


def test_the_sample_banner_follows_the_record_not_the_newest_price(sample_database, client):
    """The bug: one live quote made every page drop the banner while generated figures stayed."""
    PriceDay.objects.filter(token__slug="alpha", date=AS_OF.date()).update(source=Source.COINGECKO)
    Token.objects.filter(slug="alpha").update(latest_snapshot=None)
    from apps.tokens import snapshots

    snapshots.snapshots_recompute(token_ids=list(Token.objects.values_list("pk", flat=True)))

    for url in ("/", "/tokens/", "/tokens/alpha/", "/ratings/"):
        assert BANNER in client.get(url).content.decode(), url


def test_a_live_database_shows_no_sample_banner_but_its_as_of(live_database, client):
    html = client.get("/").content.decode()
    assert "Sample data" not in html and "generated for illustration" not in html
    as_of = data_status().as_of
    assert as_of is not None and f'Data as of <time datetime="{as_of.isoformat()}">' in html


def _section(html: str, heading: str) -> str:
    start = html.index(f'aria-labelledby="{heading}"')
    return html[start : html.index("</section>", start)]


def test_sample_figures_keep_the_sample_source_label_on_the_token_page(sample_database, client):
    html = client.get("/tokens/alpha/").content.decode()

    assert html.count("Source: Sample data") == 2  # market figures and revenue figures
    events = _section(html, "events-h")
    assert events.count(">Generated</span>") == AccrualEvent.objects.filter(token__slug="alpha").count() > 0
    reports = _section(html, "reports-h")
    assert ">Editor<" not in reports  # the sample's statements are generated, not an editor's
    assert ">Generated</span>" in reports
    assert "Computed by Accrual from sample data" in reports  # summed from generated days
    assert "Computed by Accrual<" not in reports
    assert RevenueReport.objects.filter(token__slug="alpha", source=Source.SAMPLE).exists()


# --- refresh_data leaves the state the tasks leave -----------------------------------


def _market_cap_shown(panel: str, value: D) -> bool:
    """Whether the rating panel shows ``value`` as its market cap input."""
    pattern = r'Market cap</span> <data value="[^"]*" data-input="market_cap_usd">' + re.escape(
        input_value(value, "usd")
    )
    return re.search(pattern, panel) is not None


def _rating_panel(html: str) -> str:
    start = html.index('<section class="card rating-panel"')
    return html[start : html.index("</section>", start)]


def test_refresh_data_rates_the_changed_market_cap_as_the_tasks_do(live_database, client):
    alpha = next(row for row in live_database.data.markets() if row["id"] == "alpha-cg")
    old_cap = D(str(alpha["market_cap"]))
    panel = _rating_panel(client.get("/tokens/alpha/").content.decode())
    assert _market_cap_shown(panel, old_cap)
    rated_before = Rating.objects.filter(token__slug="alpha").count()

    alpha["market_cap"] = 4_200_000
    out = io.StringIO()
    call_command("refresh_data", "markets", stdout=out, stderr=io.StringIO())

    token = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    assert token.latest_snapshot.market_cap_usd == D("4200000") != old_cap
    rating = Rating.objects.filter(token=token).latest("date")
    assert D(str(rating.inputs["market_cap_usd"])) == D("4200000")
    assert Rating.objects.filter(token=token).count() == rated_before  # the same day, rated again
    panel = _rating_panel(client.get("/tokens/alpha/").content.decode())
    assert _market_cap_shown(panel, D("4200000"))
    assert not _market_cap_shown(panel, old_cap)
    assert "ratings:" in out.getvalue() and "rated again" in out.getvalue()


def test_the_admin_shows_the_record_read_only(sample_database, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(reverse("admin:tokens_dataset_changelist"))

    assert response.status_code == 200 and "Sample data" in response.content.decode()
    assert client.get(reverse("admin:tokens_dataset_add")).status_code == 403
