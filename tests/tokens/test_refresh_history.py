"""Price and revenue history fill gaps only, within a call budget and a deadline, in chunks
that commit as they go: a new token gets its year, missed days are fetched for the tokens
missing them and no others, and a run stopped or killed part-way is continued by the next."""

import datetime as dt
import time
from decimal import Decimal as D

import pytest
from django.utils import timezone

from apps.tokens import history, refresh
from apps.tokens.models import MetricSnapshot, PriceDay, RevenueDay, SyncRun, Token
from apps.tokens.providers.base import MarketQuote, PricePoint, ProviderDataError, RevenuePoint

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()


class WorkerKilled(Exception):
    """Not a provider error: what a worker's death (or a hard time limit) looks like to the run."""


class StandIn:
    """A live-looking market source: today's quote for every id asked, and a daily chart of
    ``days`` days back from today (inclusive), as CoinGecko's ``days`` gives. It records
    every chart call; ids in ``failing`` answer a data error, ``crash_on`` kills the run."""

    source = "coingecko"

    def __init__(self, failing=(), crash_on=None):
        self.calls: list[tuple[str, int]] = []
        self.failing, self.crash_on = set(failing), crash_on

    def markets(self, ids):
        now = timezone.now()
        return [MarketQuote(i, i[:3], i, now, price=D(2), market_cap=D(2000), volume=D(1)) for i in ids]

    def price_history(self, coingecko_id, days=365):
        self.calls.append((coingecko_id, days))
        if coingecko_id == self.crash_on:
            raise WorkerKilled(coingecko_id)
        if coingecko_id in self.failing:
            raise ProviderDataError(f"coins/{coingecko_id}/market_chart: field 'prices' is missing")
        midnight = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)
        return [
            PricePoint(coingecko_id, TODAY - dt.timedelta(days=n), midnight - dt.timedelta(days=n), D(1), D(1000), D(5))
            for n in range(days, -1, -1)
        ]

    def called(self) -> list[str]:
        return [coingecko_id for coingecko_id, _ in self.calls]


def token(slug: str, **fields) -> Token:
    return Token.objects.create(slug=slug, symbol=slug[:3].upper(), name=slug, coingecko_id=f"{slug}-cg", **fields)


def with_market_cap(tok: Token, market_cap: int) -> None:
    snapshot = MetricSnapshot.objects.create(
        token=tok, date=TODAY, market_cap_usd=market_cap, computed_at=timezone.now()
    )
    Token.objects.filter(pk=tok.pk).update(latest_snapshot=snapshot)


def price_days(tok: Token) -> set[dt.date]:
    return set(PriceDay.objects.filter(token=tok).values_list("date", flat=True))


def test_a_token_added_then_quoted_gets_its_year_from_the_history_job():
    """The market refresh stores today's price first; the history job still fetches the year."""
    added = token("newcoin")
    provider = StandIn()
    assert refresh.market_refresh(provider=provider).run.status == SyncRun.Status.SUCCEEDED
    assert price_days(added) == {TODAY}
    result = history.price_history_refresh(provider=provider)
    assert provider.calls == [("newcoin-cg", history.DEFAULT_BACKFILL_DAYS)]
    assert price_days(added) == {TODAY - dt.timedelta(days=n) for n in range(history.DEFAULT_BACKFILL_DAYS + 1)}
    assert result.run.status == SyncRun.Status.SUCCEEDED and result.remaining == 0
    added.refresh_from_db()
    assert added.price_history_at is not None and added.quoted_at is not None
    assert added.latest_snapshot.date == TODAY
    # Backfilled and quoted every day since: the next run asks for nothing.
    assert history.price_history_refresh(provider=provider).calls == 0 and len(provider.calls) == 1


def test_missed_days_are_fetched_for_the_tokens_missing_them_and_no_others():
    provider = StandIn()
    whole, gappy, unpriced = token("whole"), token("gappy"), token("unpriced")
    history.price_history_refresh(provider=provider)  # backfills all three
    Token.objects.filter(pk=unpriced.pk).update(price_history_at=timezone.now() - dt.timedelta(days=20))
    PriceDay.objects.filter(token=unpriced).delete()  # the provider never priced it: no gap, nothing to ask
    # The last history fetch was a week ago; since then the quotes missed two of gappy's days.
    week_ago = timezone.now() - dt.timedelta(days=7)
    Token.objects.filter(pk__in=[whole.pk, gappy.pk]).update(price_history_at=week_ago)
    missed = {TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=2)}
    PriceDay.objects.filter(token=gappy, date__in=missed).delete()
    # A day missing from before the last fetch was asked for then: not again.
    PriceDay.objects.filter(token=whole, date=TODAY - dt.timedelta(days=9)).delete()
    provider.calls.clear()

    result = history.price_history_refresh(provider=provider)
    assert provider.calls == [("gappy-cg", 5)]  # from the first missed day to today
    assert missed <= price_days(gappy)
    assert result.changed_tokens == {gappy.pk} and result.run.rows_written == 2
    assert TODAY - dt.timedelta(days=9) not in price_days(whole)


def test_a_call_budget_spreads_a_backfill_over_runs_largest_first_none_starved(monkeypatch):
    monkeypatch.setattr(history, "HISTORY_BATCH", 2)
    tokens = [token(f"coin{i}") for i in range(6)]
    for i, tok in enumerate(tokens):
        with_market_cap(tok, 1000 * (i + 1))  # coin5 is the largest
    provider = StandIn(failing={"coin5-cg"})

    first = history.price_history_refresh(provider=provider, max_calls=3)
    assert provider.called() == ["coin5-cg", "coin4-cg", "coin3-cg"]
    assert (first.calls, first.remaining) == (3, 3)
    run = SyncRun.objects.get(pk=first.run.pk)
    assert run.remaining == 3 and "coin5-cg" in run.error  # the failure is recorded
    assert {t.slug for t in Token.objects.exclude(price_history_at=None)} == {"coin4", "coin3"}

    provider.calls.clear()
    second = history.price_history_refresh(provider=provider, max_calls=3)
    # The rest continue where the first run stopped; the failed one went behind them.
    assert provider.called() == ["coin2-cg", "coin1-cg", "coin0-cg"]
    assert second.remaining == 1
    provider.failing.clear()
    provider.calls.clear()
    third = history.price_history_refresh(provider=provider, max_calls=3)
    assert provider.called() == ["coin5-cg"] and third.remaining == 0
    assert not Token.objects.filter(price_history_at=None).exists()
    assert all(len(price_days(t)) == history.DEFAULT_BACKFILL_DAYS + 1 for t in tokens)


def test_a_long_backfill_and_missed_days_take_turns_within_a_budget():
    """On a small plan a backfill of thousands lasts weeks: the missed days of the tokens
    already backfilled are fetched alongside it, before they age out of the gap window."""
    backfilled = [token(f"old{i}") for i in range(2)]
    provider = StandIn()
    history.price_history_refresh(provider=provider)
    week_ago = timezone.now() - dt.timedelta(days=7)
    Token.objects.filter(pk__in=[t.pk for t in backfilled]).update(price_history_at=week_ago)
    PriceDay.objects.filter(token__in=backfilled, date=TODAY - dt.timedelta(days=3)).delete()
    new = [token(f"new{i}") for i in range(4)]
    for i, tok in enumerate(new):
        with_market_cap(tok, 1000 * (i + 1))
    provider.calls.clear()

    history.price_history_refresh(provider=provider, max_calls=4)
    assert provider.called() == ["new3-cg", "old0-cg", "new2-cg", "old1-cg"]
    assert all(TODAY - dt.timedelta(days=3) in price_days(t) for t in backfilled)


def test_a_run_killed_mid_chunk_keeps_the_chunks_before_and_the_next_run_finishes(monkeypatch):
    monkeypatch.setattr(history, "HISTORY_BATCH", 2)
    tokens = [token(f"coin{i}") for i in range(4)]
    for i, tok in enumerate(tokens):
        with_market_cap(tok, 1000 * (4 - i))  # coin0 first
    provider = StandIn(crash_on="coin3-cg")
    with pytest.raises(WorkerKilled):
        history.price_history_refresh(provider=provider)
    assert provider.called() == ["coin0-cg", "coin1-cg", "coin2-cg", "coin3-cg"]
    done = {t.slug for t in Token.objects.exclude(price_history_at=None)}
    assert done == {"coin0", "coin1"}  # chunk 1 complete: prices, snapshots and fetch time
    for tok in tokens[:2]:
        assert len(price_days(tok)) == history.DEFAULT_BACKFILL_DAYS + 1
        assert MetricSnapshot.objects.filter(token=tok).count() == history.DEFAULT_BACKFILL_DAYS + 1
    for tok in tokens[2:]:  # chunk 2 untouched, coin2's fetch included
        assert not price_days(tok)

    provider.crash_on = None
    provider.calls.clear()
    result = history.price_history_refresh(provider=provider)
    assert provider.called() == ["coin2-cg", "coin3-cg"] and result.remaining == 0
    assert not Token.objects.filter(price_history_at=None).exists()


def test_a_run_past_its_deadline_stops_cleanly_and_says_what_is_left(monkeypatch):
    monkeypatch.setattr(history, "HISTORY_BATCH", 2)
    for i in range(3):
        token(f"coin{i}")
    provider = StandIn()
    result = history.price_history_refresh(provider=provider, deadline=time.monotonic() - 1)
    assert provider.calls == [] and result.remaining == 3
    assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.remaining == 3


def test_market_refresh_writes_every_batch_with_its_snapshots_and_quoted_at(monkeypatch):
    monkeypatch.setattr(refresh, "MARKET_BATCH", 2)
    tokens = [token(f"coin{i}") for i in range(5)]
    before = timezone.now()
    result = refresh.market_refresh(provider=StandIn())
    assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.rows_written == 5
    for tok in Token.objects.filter(pk__in=[t.pk for t in tokens]).select_related("latest_snapshot"):
        assert tok.quoted_at >= before
        assert (tok.latest_snapshot.date, tok.latest_snapshot.price_usd) == (TODAY, D(2))


class Llama:
    """A stand-in DefiLlama without an overview: a protocol's daily history since ``since``."""

    source = "defillama"

    def __init__(self):
        self.calls: list[str] = []

    def revenue_history(self, slug, since=None):
        self.calls.append(slug)
        first = since or TODAY - dt.timedelta(days=40)
        days = (TODAY - first).days
        return [RevenuePoint(slug, first + dt.timedelta(days=n), D(10), D(5), D(1)) for n in range(days)]


def test_revenue_backfills_largest_first_within_a_budget_of_three_calls_a_protocol(monkeypatch):
    monkeypatch.setattr(history, "HISTORY_BATCH", 1)
    protocols = [Token.objects.create(slug=f"p{i}", symbol="P", name="P", defillama_slug=f"p{i}") for i in range(3)]
    for i, tok in enumerate(protocols):
        with_market_cap(tok, 1000 * (i + 1))
    provider = Llama()
    first = history.revenue_refresh(provider=provider, max_calls=7)  # room for two protocols
    assert provider.calls == ["p2", "p1"] and (first.calls, first.remaining) == (6, 1)
    assert RevenueDay.objects.filter(token__slug="p2").count() == 40
    assert set(Token.objects.exclude(revenue_history_at=None).values_list("slug", flat=True)) == {"p2", "p1"}
    provider.calls.clear()
    history.revenue_refresh(provider=provider, max_calls=3)
    assert provider.calls == ["p0"]  # the backfill continues before the incremental fetches


def test_a_loaded_sample_counts_as_backfilled(data_dir):
    """Sample mode behaves as before: the history job asks no token for its year again."""
    from apps.tokens.ingestion import sample_data_load
    from apps.tokens.providers.sample import SampleProvider

    class Recording(SampleProvider):
        asked: list[int] = []

        def price_history(self, coingecko_id, days=None):
            self.asked.append(days)
            return super().price_history(coingecko_id, days=days)

    provider = Recording(data_dir)
    sample_data_load(provider=provider)
    assert not Token.objects.exclude(coingecko_id=None).filter(price_history_at=None).exists()
    assert not Token.objects.exclude(defillama_slug=None).filter(revenue_history_at=None).exists()
    provider.asked.clear()
    result = history.price_history_refresh(provider=provider)
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert history.DEFAULT_BACKFILL_DAYS not in provider.asked
