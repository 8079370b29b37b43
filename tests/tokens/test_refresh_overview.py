"""The daily revenue refresh takes yesterday from DefiLlama's overview (three calls for the
universe) for every protocol whose stored figures prove the overview lines up, and fetches
only the others one by one.

GIVEN the sample's revenue stored up to the day before yesterday, and a real server on
127.0.0.1 answering /overview/fees and /summary/fees from the same recorded data
WHEN the daily revenue refresh runs
THEN yesterday is written from the overview alone, equal to what the summaries give; a
protocol whose stored day disagrees with the overview (a revision), or all zeros, or a
failing overview, falls back to its summaries; a second run writes nothing.
"""

import datetime as dt
from decimal import Decimal as D

import pytest

from apps.tokens import history
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import RevenueDay, SyncRun, Token
from apps.tokens.providers.base import RevenuePoint
from apps.tokens.providers.defillama import DefiLlamaClient, LatestTotals
from apps.tokens.providers.sample import SampleProvider
from tests.support.data_set import hold

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 1)
YESTERDAY = TODAY - dt.timedelta(days=1)


@pytest.fixture
def behind_a_day(data_dir):
    """The sample loaded, then yesterday's revenue removed: as the daily run finds it."""
    sample_data_load(provider=SampleProvider(data_dir))
    hold("live")  # taken as live data, which the live client refreshes
    expected = {
        row[0]: row[1:]
        for row in RevenueDay.objects.filter(date=YESTERDAY).values_list(
            "token__slug", "fees_usd", "revenue_usd", "holders_revenue_usd"
        )
    }
    assert expected, "the sample has revenue for yesterday"
    RevenueDay.objects.filter(date=YESTERDAY).delete()
    return expected


def client(server) -> DefiLlamaClient:
    return DefiLlamaClient(f"{server.url}/llama", None, max_attempts=2, sleep=lambda s: None)


def yesterdays_figures() -> dict:
    return {
        row[0]: row[1:]
        for row in RevenueDay.objects.filter(date=YESTERDAY).values_list(
            "token__slug", "fees_usd", "revenue_usd", "holders_revenue_usd"
        )
    }


def paths(server, prefix: str) -> list[str]:
    return [p for p in server.requests if p.startswith(prefix)]


def test_yesterday_comes_from_the_overview_alone(server, behind_a_day):
    result = history.revenue_refresh(provider=client(server), today=TODAY)
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert len(paths(server, "/llama/overview/fees")) == 3
    assert paths(server, "/llama/summary/") == []
    assert yesterdays_figures() == behind_a_day
    assert result.run.rows_written == len(behind_a_day)
    # Snapshots follow: each protocol's latest snapshot carries yesterday's revenue.
    for token in Token.objects.exclude(defillama_slug=None).select_related("latest_snapshot"):
        assert token.latest_snapshot.revenue_as_of == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    server.requests.clear()
    again = history.revenue_refresh(provider=client(server), today=TODAY)
    assert again.run.rows_written == 0
    assert paths(server, "/llama/summary/") == []  # up to date, and the overview vouches for it


def test_a_revised_day_sends_that_protocol_to_its_summaries(server, behind_a_day):
    revised = Token.objects.exclude(defillama_slug=None).order_by("pk").first()
    before = YESTERDAY - dt.timedelta(days=1)
    stored = RevenueDay.objects.get(token=revised, date=before)
    RevenueDay.objects.filter(pk=stored.pk).update(fees_usd=stored.fees_usd + 1)  # DefiLlama revised it

    history.revenue_refresh(provider=client(server), today=TODAY)

    summaries = paths(server, "/llama/summary/")
    assert summaries and all(f"/{revised.defillama_slug}?" in p for p in summaries)
    assert RevenueDay.objects.get(token=revised, date=before).fees_usd == stored.fees_usd  # corrected
    assert yesterdays_figures() == behind_a_day


def test_a_failing_overview_falls_back_to_every_summary(server, behind_a_day):
    server.inject("/llama/overview/fees", 500, 500)
    result = history.revenue_refresh(provider=client(server), today=TODAY)
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert len(paths(server, "/llama/summary/")) >= len(behind_a_day)
    assert yesterdays_figures() == behind_a_day


class FakeOverview:
    """latest_totals() as given; summaries from the sample, counted."""

    source = "defillama"

    def __init__(self, totals: dict, sample: SampleProvider) -> None:
        self.totals, self.sample, self.fetched = totals, sample, []

    def latest_totals(self):
        return self.totals

    def revenue_history(self, slug: str, since: dt.date | None = None) -> list[RevenuePoint]:
        self.fetched.append(slug)
        return self.sample.revenue_history(slug, since=since)


def test_a_day_of_zeros_proves_nothing(data_dir, behind_a_day):
    token = Token.objects.filter(defillama_slug__isnull=False).first()
    before = YESTERDAY - dt.timedelta(days=1)
    RevenueDay.objects.filter(token=token, date=before).update(fees_usd=0, revenue_usd=0, holders_revenue_usd=0)
    zero = (D(0), D(0))
    totals = {token.defillama_slug: LatestTotals(fees=(D(5), D(0)), revenue=zero, holders_revenue=zero)}
    provider = FakeOverview(totals, SampleProvider(data_dir))

    history.revenue_refresh(provider=provider, token_ids=[token.pk], today=TODAY)

    assert provider.fetched == [token.defillama_slug]  # matched, but on zeros: fetched in full
    assert RevenueDay.objects.get(token=token, date=YESTERDAY).fees_usd == behind_a_day[token.slug][0]


def test_backfill_never_asks_the_overview(data_dir, behind_a_day):
    provider = FakeOverview({}, SampleProvider(data_dir))
    provider.latest_totals = None  # would fail if called
    history.revenue_refresh(provider=provider, backfill=True, today=TODAY)
    assert len(provider.fetched) == Token.objects.exclude(defillama_slug=None).count()
