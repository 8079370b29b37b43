"""A day at 20,000 tokens on a 30-a-minute, 10,000-a-month plan, on a fake clock.

GIVEN 20,000 tracked tokens, a fake CoinGecko in the process that counts its calls, and a
clock that moves only when told; WHEN the scheduler runs 96 quarter-hours and the daily
history job; THEN every token is quoted on its tier's cadence, no run makes more calls than
planned, the month's quota is never passed, the history backlog goes on over successive
days, and a worker killed mid-run loses nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Count, Max, Min, Q

from apps.tokens import budget
from apps.tokens.models import PriceDay, SyncRun, Token
from apps.tokens.providers.base import MarketQuote, PricePoint
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

QUARTER = dt.timedelta(minutes=15)
START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # 31 days left in the month
UNIVERSE = 20_000
QUOTA = 10_000


class WorkerKilled(Exception):
    """Stands in for SIGKILL: nothing in the refresh catches it."""


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class FakeCoinGecko:
    """/coins/markets and market_chart in the process: each page or chart is one call. The
    price of every quote is the clock's hour and minute, so a test can tell which run wrote it."""

    source = "coingecko"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0
        self.history_asked: Counter[str] = Counter()  # backfills (a year), by id
        self.gaps_asked = 0  # missed days of tokens already backfilled
        self.kill_at_call: int | None = None

    def _call(self) -> None:
        self.calls += 1  # a call counts against the quota whatever happens to it
        if self.kill_at_call is not None and self.calls >= self.kill_at_call:
            self.kill_at_call = None
            raise WorkerKilled

    def market_pages(self, ids):
        now = self.clock.now
        for start in range(0, len(ids), budget.QUOTES_PER_CALL):
            self._call()
            yield [
                MarketQuote(
                    coingecko_id=cg,
                    symbol=cg,
                    name=cg,
                    last_updated=now,
                    price=Decimal(now.hour * 100 + now.minute + 1),
                    market_cap=Decimal(10**12) / int(cg.removeprefix("cg-")),
                    circulating_supply=Decimal(1000),
                )
                for cg in ids[start : start + budget.QUOTES_PER_CALL]
            ]

    def markets(self, ids):
        return [quote for page in self.market_pages(ids) for quote in page]

    def price_history(self, coingecko_id: str, days: int = 365) -> list[PricePoint]:
        self._call()
        if days >= 365:
            self.history_asked[coingecko_id] += 1
        else:
            self.gaps_asked += 1
        today = self.clock.now.date()
        return [
            PricePoint(coingecko_id, day, dt.datetime.combine(day, dt.time(), dt.UTC), Decimal(1), None, None)
            for day in (today - dt.timedelta(days=n) for n in range(1, 4))
        ]


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(START)
    monkeypatch.setattr("django.utils.timezone.now", clock)
    return clock


@pytest.fixture
def plan_settings(settings):
    settings.ACCRUAL_DATA_MODE = "live"
    settings.COINGECKO_RATE_LIMIT_PER_MINUTE = 30
    settings.COINGECKO_MONTHLY_QUOTA = QUOTA
    settings.DEFILLAMA_MONTHLY_QUOTA = 0
    settings.MARKETS_REFRESH_SECONDS = 15 * 60
    settings.ACCRUAL_PRIORITY_TOKENS = 250
    return settings


def universe(size: int) -> None:
    Token.objects.bulk_create(
        Token(slug=f"t{n}", symbol=f"T{n}", name=f"Token {n}", coingecko_id=f"cg-{n}", market_cap_rank=n)
        for n in range(1, size + 1)
    )


def provider_with_quota(monkeypatch, clock: Clock, used_before: int) -> FakeCoinGecko:
    fake = FakeCoinGecko(clock)
    # The http helper's MonthlyQuota counts every call; here the fake does.
    monkeypatch.setattr(
        budget, "calls_used", lambda provider: used_before + fake.calls if provider == "coingecko" else 0
    )
    return fake


@pytest.fixture
def without_snapshots(monkeypatch):
    """The market refresh's snapshots are most of each run's time at this size (tens of
    seconds over a day), and not what these tests check: the tokens asked and the prices written. The tokens'
    supplies and quoted_at, which the reprice stores in the same rewrite, are still stored."""
    from apps.tokens import bulk
    from apps.tokens.snapshots import QUOTED_FIELDS

    def store_quoted_only(*, supplies=(), **kwargs) -> int:  # what the reprice stores besides snapshots
        bulk.update_rows(Token, ["id", *QUOTED_FIELDS], supplies)
        return 0

    monkeypatch.setattr("apps.tokens.refresh.snapshots.snapshots_reprice", store_quoted_only)


@pytest.fixture
def plans(monkeypatch) -> list:
    """Each market run's plan and the tokens it chose, as the scheduler saw them."""
    seen = []
    choose = budget.markets_due

    def spy(*, plan, priority, now):
        chosen = choose(plan=plan, priority=priority, now=now)
        seen.append((plan, chosen))
        return chosen

    monkeypatch.setattr(budget, "markets_due", spy)
    return seen


def ages(now: dt.datetime, token_ids: set[int], *, inside: bool) -> dict:
    tokens = Token.objects.filter(pk__in=token_ids) if inside else Token.objects.exclude(pk__in=token_ids)
    return tokens.aggregate(
        oldest=Min("quoted_at"), newest=Max("quoted_at"), unquoted=Count("pk", filter=Q(quoted_at=None))
    )


@pytest.mark.usefixtures("without_snapshots")
def test_a_day_at_20000_tokens_on_a_demo_plan(plan_settings, clock, monkeypatch, plans):
    started = time.perf_counter()
    universe(UNIVERSE)
    watched = Token.objects.get(slug="t15000")  # far down the market caps, but on a watchlist
    watchlist = Watchlist.objects.create(user=UserFactory(), name="Mine", is_default=True)
    WatchlistItem.objects.create(watchlist=watchlist, token=watched)
    fake = provider_with_quota(monkeypatch, clock, used_before=0)
    priority = budget.priority_token_ids()
    assert len(priority) == 251 and watched.pk in priority
    assert Token.objects.filter(pk__in=priority, market_cap_rank__lte=250).count() == 250

    first = budget.current_plan(now=START)
    rest_cadence = first.tiers["rest"].cadence
    assert first.tiers["priority"].cadence == QUARTER
    assert rest_cadence == dt.timedelta(days=1)
    history_planned = first.jobs["price-history"].max_calls
    assert history_planned > 0

    market_calls = 0
    for run in range(96):
        clock.now = START + run * QUARTER
        before = fake.calls
        budget.markets_run(provider=fake)
        plan, _ = plans[-1]
        allowed = sum(t.allowance(plan.run_index(clock.now), plan.runs_a_day) for t in plan.tiers.values())
        assert fake.calls - before <= allowed, f"run {run}"
        market_calls += fake.calls - before

        tier = ages(clock.now, priority, inside=True)
        assert tier["oldest"] == clock.now and tier["unquoted"] == 0, f"priority tier stale at run {run}"
        rest = ages(clock.now, priority, inside=False)
        if rest["oldest"] is not None:
            # Quoted at the latest by the next run: never older than the cadence.
            assert clock.now + QUARTER - rest["oldest"] <= rest_cadence, f"run {run}"
        if run == 1:  # the daily history job, at 00:20
            clock.now = START + dt.timedelta(minutes=20)
            before = fake.calls
            budget.history_run(provider=fake)
            assert fake.calls - before == history_planned

    assert ages(clock.now, priority, inside=False)["unquoted"] == 0  # every token within the day
    assert market_calls <= first.jobs["markets"].calls_a_day
    assert fake.calls <= first.quotas["coingecko"].planned_a_day
    # The quotes are the prices: each token's newest PriceDay is its newest quote.
    newest = dict(PriceDay.objects.values("token_id").annotate(at=Max("observed_at")).values_list("token_id", "at"))
    assert len(newest) == UNIVERSE
    assert all(newest[pk] == quoted for pk, quoted in Token.objects.values_list("pk", "quoted_at"))

    # History: the backlog goes on over the next days, the tokens never asked twice.
    planned = [history_planned]
    for day in (1, 2):
        clock.now = START + dt.timedelta(days=day, minutes=20)
        planned.append(budget.current_plan(now=clock.now).jobs["price-history"].max_calls)
        before = fake.calls
        budget.history_run(provider=fake)
        assert fake.calls - before == planned[-1] > 0
    backfilled = Token.objects.exclude(price_history_at=None).count()
    # (No market run between the daily jobs here, so the quotes miss days: those gaps take
    # turns with the backfill, and every call is one or the other.)
    assert backfilled == sum(fake.history_asked.values()) == len(fake.history_asked)
    assert backfilled + fake.gaps_asked == sum(planned) and backfilled > planned[0]
    assert fake.calls <= QUOTA
    print(f"\nday at {UNIVERSE} tokens: {time.perf_counter() - started:.1f} s, {fake.calls} calls")


@pytest.mark.parametrize(
    ("now", "used_before", "left"),
    [
        (dt.datetime(2026, 12, 31, tzinfo=dt.UTC), QUOTA - 100, 100),  # the last day, 100 calls left: stretches
        (START, QUOTA, 0),  # spent: stops
    ],
)
@pytest.mark.usefixtures("without_snapshots")
def test_near_the_quota_the_scheduler_stretches_then_stops(plan_settings, clock, monkeypatch, now, used_before, left):
    size = 5_000  # enough for a tail the quota cannot cover, and quicker than 20,000
    universe(size)
    fake = provider_with_quota(monkeypatch, clock, used_before=used_before)
    priority = budget.priority_token_ids()
    for run in range(96):
        clock.now = now + run * QUARTER
        budget.markets_run(provider=fake)
        if run == 1:
            budget.history_run(provider=fake)
        assert used_before + fake.calls <= QUOTA
    assert fake.calls <= left
    if left:
        # The priority tier keeps its 15 minutes; the others get what is left, not a day's worth.
        assert ages(clock.now, priority, inside=True)["oldest"] == clock.now
        assert 0 < size - 250 - ages(clock.now, priority, inside=False)["unquoted"] < size // 2
    else:
        assert not SyncRun.objects.exists() and not PriceDay.objects.exists()


def test_a_worker_killed_mid_run_loses_nothing(plan_settings, clock, monkeypatch):
    plan_settings.ACCRUAL_PRIORITY_TOKENS = 600  # three pages a run
    universe(2_000)
    fake = provider_with_quota(monkeypatch, clock, used_before=0)
    priority = budget.priority_token_ids()
    plan = budget.current_plan(now=clock.now)
    due = budget.markets_due(plan=plan, priority=priority, now=clock.now)
    assert len(due) > budget.QUOTES_PER_CALL  # two pages: killed on the second

    fake.kill_at_call = 2
    with pytest.raises(WorkerKilled):
        budget.markets_run(provider=fake)
    clock.now += dt.timedelta(minutes=1)  # the broker redelivers the task
    budget.markets_run(provider=fake)
    quoted = Token.objects.filter(pk__in=due)
    assert quoted.filter(quoted_at=None).count() == 0
    assert PriceDay.objects.filter(token__in=due).count() == len(due)
    assert SyncRun.objects.filter(kind="markets", status=SyncRun.Status.FAILED, error__contains="stopped").exists()

    # The history job killed half-way through its calls, then run again.
    clock.now = START + dt.timedelta(minutes=20)
    max_calls = budget.current_plan(now=clock.now).jobs["price-history"].max_calls
    fake.kill_at_call = fake.calls + max_calls // 2
    with pytest.raises(WorkerKilled):
        budget.history_run(provider=fake)
    budget.history_run(provider=fake)
    done = Token.objects.exclude(price_history_at=None)
    assert done.count() >= max_calls // 2
    assert all(PriceDay.objects.filter(token=t, date__lt=START.date()).count() == 3 for t in done)


def test_the_scheduled_task_quotes_what_the_budget_says(plan_settings, clock, monkeypatch):
    from apps.tokens import tasks

    universe(1_000)
    fake = provider_with_quota(monkeypatch, clock, used_before=QUOTA)
    monkeypatch.setattr("apps.tokens.refresh.market_provider", lambda: fake)
    assert tasks.refresh_markets.delay().get()["skipped"]  # the month's quota is spent
    assert fake.calls == 0 and not SyncRun.objects.exists()

    monkeypatch.setattr(budget, "calls_used", lambda provider: 0)
    summary = tasks.refresh_markets.delay().get()
    assert summary["status"] == "succeeded" and fake.calls == 1  # the top 250, one page
    assert set(Token.objects.exclude(quoted_at=None).values_list("market_cap_rank", flat=True)) == set(range(1, 251))
