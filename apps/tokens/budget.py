"""The request budget: how many calls each refresh may make, per provider, so that a plan's
per-minute limit and monthly quota hold; and which tokens each 15-minute market run quotes.

``budget_plan`` is arithmetic over plain inputs; ``current_plan`` gathers those inputs from
the settings, the quota counters and the database; ``markets_due`` and the ``*_run``
functions are what the scheduled tasks call.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import Token

QUOTES_PER_CALL = 250  # ids per /coins/markets call
# Per-protocol revenue costs three calls (fees, revenue, holders revenue); the daily
# overview that vouches for the rest costs three for the whole universe.
REVENUE_CALLS_PER_PROTOCOL = 3
REVENUE_OVERVIEW_CALLS = 3
# The history and revenue jobs' time limits (tasks.py gives them twice the markets' 15 min).
DAILY_JOB_MINUTES = 30

PRIORITY, REST = "priority", "rest"
COINGECKO, DEFILLAMA = "coingecko", "defillama"


# --- The plan: plain inputs in, plain outputs out ---------------------------------------


@dataclass(frozen=True)
class ProviderBudget:
    """A provider plan's limits and what has been spent of them this month."""

    provider: str
    per_minute: int = 0  # 0: no per-minute limit
    monthly_quota: int = 0  # 0: no monthly quota
    used: int = 0  # calls counted this calendar month (UTC)

    @property
    def remaining(self) -> int | None:
        return max(self.monthly_quota - self.used, 0) if self.monthly_quota else None


@dataclass(frozen=True)
class Workload:
    """What there is to fetch."""

    tracked: int  # tokens with a CoinGecko id that the market refresh quotes
    priority: int  # of them, in the priority tier
    history_backlog: int = 0  # tokens needing a market_chart call: a year's backfill or a missed day
    revenue_backlog: int = 0  # protocols the revenue overview cannot vouch for (fetched one by one)
    protocols: int = 0  # protocols with revenue (the overview serves them all)
    discovery_calls: int = 0  # CoinGecko calls a day the universe discovery makes


@dataclass(frozen=True)
class TierPlan:
    name: str
    tokens: int
    calls_a_cycle: int  # calls to quote every token of the tier once
    calls_a_day: int  # spread evenly over the day's runs (``allowance``)
    cadence: dt.timedelta | None  # the oldest a quote of the tier gets; None: not quoted at all

    def allowance(self, run_index: int, runs_a_day: int) -> int:
        """Calls for run number ``run_index`` (counted from the epoch): the day's calls spread so
        that any ``runs_a_day`` consecutive runs make exactly ``calls_a_day`` of them, and any
        window of a cadence's runs enough for the whole tier."""
        return (run_index + 1) * self.calls_a_day // runs_a_day - run_index * self.calls_a_day // runs_a_day


@dataclass(frozen=True)
class JobPlan:
    name: str
    provider: str
    calls_a_day: int
    max_calls: int | None  # a run's allowance; None: no limit (sample data)


@dataclass(frozen=True)
class QuotaPlan:
    provider: str
    per_minute: int
    monthly_quota: int  # 0: none
    used: int
    days_left: float
    daily_budget: int | None  # None: no quota
    planned_a_day: int
    projected_month_total: int | None  # used + planned for the rest of the month; None without a quota

    @property
    def remaining(self) -> int | None:
        return max(self.monthly_quota - self.used, 0) if self.monthly_quota else None


@dataclass(frozen=True)
class Plan:
    as_of: dt.datetime
    interval: dt.timedelta  # between two market runs
    unlimited: bool  # the sample provider: no quotas, every token every run
    tiers: dict[str, TierPlan] = field(default_factory=dict)
    jobs: dict[str, JobPlan] = field(default_factory=dict)
    quotas: dict[str, QuotaPlan] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def runs_a_day(self) -> int:
        return runs_a_day(self.interval)

    def run_index(self, now: dt.datetime) -> int:
        return int(now.timestamp() // self.interval.total_seconds())


def runs_a_day(interval: dt.timedelta) -> int:
    return max(int(dt.timedelta(days=1) / interval), 1)


def month_days_left(now: dt.datetime) -> float:
    """Days (fractional) from ``now`` to the start of next month, UTC: the quota's window."""
    now = now.astimezone(dt.UTC)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return (following - now) / dt.timedelta(days=1)


def daily_budget(budget: ProviderBudget, days_left: float) -> int | None:
    """What is left of the month's quota, spread evenly over the days left: a rate, so that
    the rest of the month at this rate spends exactly what is left."""
    if budget.remaining is None:
        return None
    return math.floor(budget.remaining / days_left)


def _tier(name: str, tokens: int, calls_a_day: float, runs: int, interval: dt.timedelta) -> TierPlan:
    """A tier given up to ``calls_a_day`` (math.inf: no limit), never more than every run needs."""
    cycle = math.ceil(tokens / QUOTES_PER_CALL)
    calls_a_day = int(min(calls_a_day, cycle * runs))
    cadence = None
    if cycle == 0:
        cadence = interval
    elif calls_a_day > 0:
        # Any window of ceil(cycle × runs / calls) runs makes at least ``cycle`` calls.
        cadence = interval * math.ceil(cycle * runs / calls_a_day)
    return TierPlan(name=name, tokens=tokens, calls_a_cycle=cycle, calls_a_day=calls_a_day, cadence=cadence)


def _cadence_text(cadence: dt.timedelta | None) -> str:
    if cadence is None:
        return "not refreshed"
    minutes = int(cadence.total_seconds() // 60)
    if minutes < 120:
        return f"every {minutes} min"
    if minutes < 48 * 60:
        return f"every {minutes / 60:g} h"
    return f"every {minutes / 1440:.1f} days"


def budget_plan(
    *,
    now: dt.datetime,
    interval: dt.timedelta,
    markets: ProviderBudget,
    revenue: ProviderBudget,
    work: Workload,
    job_minutes: int = DAILY_JOB_MINUTES,
) -> Plan:
    """The day's calls by job, within each provider's quota and per-minute limit.

    CoinGecko's daily budget (what is left of the month spread over the days left) goes, in
    this order, to: the universe discovery; the priority tier, every run if it fits, else as
    often as it fits; every other token once a day (the market quotes make each day's price,
    so a token quoted less often needs a history call per missed day); the history backlog;
    and finally the other tokens more often, up to every run. A run never needs more calls
    than the per-minute limit allows in its interval."""
    runs = runs_a_day(interval)
    days_left = month_days_left(now)
    plan = Plan(as_of=now, interval=interval, unlimited=False)

    budget = daily_budget(markets, days_left)
    left = budget if budget is not None else math.inf
    per_run_cap = markets.per_minute * interval.total_seconds() / 60 if markets.per_minute else math.inf

    discovery = min(work.discovery_calls, left)
    if discovery < work.discovery_calls:
        plan.notes.append(f"The universe discovery needs {work.discovery_calls} calls a day; {discovery} fit.")
    left -= discovery

    priority_cycle = math.ceil(work.priority / QUOTES_PER_CALL)
    if priority_cycle > per_run_cap:
        plan.notes.append(
            f"The priority tier needs {priority_cycle} calls, more than {int(per_run_cap)} fit in a run's "
            f"{interval.total_seconds() / 60:g} min at {markets.per_minute} a minute: it is quoted over several runs."
        )
    priority = _tier(PRIORITY, work.priority, min(left, per_run_cap * runs), runs, interval)
    left -= priority.calls_a_day
    if priority.cadence is None or priority.cadence > interval:
        plan.notes.append(
            f"The quota does not cover the priority tier every {interval.total_seconds() / 60:g} minutes: "
            f"it is refreshed {_cadence_text(priority.cadence)}."
        )

    # A run's calls peak at ceil(calls a day / runs) per tier.
    rest_cap = (per_run_cap - math.ceil(priority.calls_a_day / runs)) * runs
    rest_tokens = max(work.tracked - work.priority, 0)
    rest_cycle = math.ceil(rest_tokens / QUOTES_PER_CALL)
    rest_floor = min(rest_cycle, left, rest_cap)
    left -= rest_floor

    history_cap = markets.per_minute * job_minutes if markets.per_minute else math.inf
    history = int(min(work.history_backlog, left, history_cap))
    left -= history

    rest = _tier(REST, rest_tokens, rest_floor + min(left, max(rest_cap - rest_floor, 0)), runs, interval)
    if rest.cadence is None or rest.cadence > dt.timedelta(days=1):
        plan.notes.append(
            f"The quota does not cover every other token once a day: they are refreshed {_cadence_text(rest.cadence)}."
        )
    if work.history_backlog > history:
        behind = work.history_backlog - history
        plan.notes.append(f"History backlog: {behind:,} token(s) wait for a later day ({history:,} calls a day fit).")

    plan.tiers.update({PRIORITY: priority, REST: rest})
    markets_a_day = priority.calls_a_day + rest.calls_a_day
    plan.jobs["markets"] = JobPlan("markets", COINGECKO, markets_a_day, math.ceil(markets_a_day / runs))
    plan.jobs["price-history"] = JobPlan("price-history", COINGECKO, history, history)
    if work.discovery_calls:
        plan.jobs["universe"] = JobPlan("universe", COINGECKO, discovery, discovery)
    planned = discovery + markets_a_day + history
    plan.quotas[COINGECKO] = _quota(markets, days_left, budget, planned)

    revenue_budget = daily_budget(revenue, days_left)
    wanted = (REVENUE_OVERVIEW_CALLS if work.protocols else 0) + REVENUE_CALLS_PER_PROTOCOL * work.revenue_backlog
    revenue_cap = revenue.per_minute * job_minutes if revenue.per_minute else math.inf
    revenue_calls = int(min(wanted, revenue_cap, math.inf if revenue_budget is None else revenue_budget))
    if revenue_calls < wanted:
        plan.notes.append(f"Revenue needs {wanted} calls; {revenue_calls} fit today, the rest wait for later runs.")
    plan.jobs["revenue-history"] = JobPlan("revenue-history", DEFILLAMA, revenue_calls, revenue_calls)
    plan.quotas[DEFILLAMA] = _quota(revenue, days_left, revenue_budget, revenue_calls)
    for quota in plan.quotas.values():
        if quota.remaining == 0:
            plan.notes.append(f"{quota.provider}: the month's quota is spent; nothing is fetched until the month ends.")
        elif quota.daily_budget == 0:
            plan.notes.append(f"{quota.provider}: {quota.remaining} calls left, under one a day until the month ends.")
    return plan


def _quota(budget: ProviderBudget, days_left: float, daily: int | None, planned: int) -> QuotaPlan:
    projected = None
    if budget.monthly_quota:
        projected = budget.used + math.floor(planned * days_left)
    return QuotaPlan(
        provider=budget.provider,
        per_minute=budget.per_minute,
        monthly_quota=budget.monthly_quota,
        used=budget.used,
        days_left=days_left,
        daily_budget=daily,
        planned_a_day=planned,
        projected_month_total=projected,
    )


def unlimited_plan(*, now: dt.datetime, interval: dt.timedelta) -> Plan:
    """The sample provider's plan: no quota, every token every run, jobs without limits."""
    return Plan(
        as_of=now,
        interval=interval,
        unlimited=True,
        jobs={name: JobPlan(name, "sample", 0, None) for name in ("markets", "price-history", "revenue-history")},
        notes=["Sample data: the bundled provider has no quota; every token is refreshed every run."],
    )


# --- Inputs from the database and the quota counters --------------------------------------


# Apps above tokens name the tokens their readers follow (watchlists, Top 10 lists once
# apps.editorial exists) by registering a function here from their AppConfig.ready: tokens
# never imports them.
PRIORITY_SOURCES: dict[str, Callable[[], Iterable[int]]] = {}


def priority_source(name: str, token_ids: Callable[[], Iterable[int]]) -> None:
    """Register ``token_ids`` (the ids of tokens readers follow) as part of the priority tier."""
    PRIORITY_SOURCES[name] = token_ids


def priority_token_ids() -> set[int]:
    """The tokens readers care most about: the ACCRUAL_PRIORITY_TOKENS largest by market cap,
    and every token a registered source names (watchlists; Top 10 lists)."""
    quotable = Token.objects.quotable()
    largest = quotable.order_by(
        F("latest_snapshot__market_cap_usd").desc(nulls_last=True), F("market_cap_rank").asc(nulls_last=True), "pk"
    ).values_list("pk", flat=True)[: settings.ACCRUAL_PRIORITY_TOKENS]
    followed = {pk for source in PRIORITY_SOURCES.values() for pk in source()}
    if followed:
        followed = set(quotable.filter(pk__in=followed).values_list("pk", flat=True))
    return set(largest) | followed


def calls_used(provider: str) -> int:
    """Calls counted against ``provider``'s monthly quota so far (the http client's counter)."""
    from .providers.shared_state import quota_used

    return quota_used(provider)


def provider_budgets() -> tuple[ProviderBudget, ProviderBudget]:
    coingecko_quota = settings.COINGECKO_MONTHLY_QUOTA
    defillama_quota = settings.DEFILLAMA_MONTHLY_QUOTA
    return (
        ProviderBudget(
            COINGECKO,
            settings.COINGECKO_RATE_LIMIT_PER_MINUTE,
            coingecko_quota,
            calls_used(COINGECKO) if coingecko_quota else 0,
        ),
        ProviderBudget(
            DEFILLAMA,
            settings.DEFILLAMA_RATE_LIMIT_PER_MINUTE,
            defillama_quota,
            calls_used(DEFILLAMA) if defillama_quota else 0,
        ),
    )


def discovery_calls_a_day() -> int:
    """CoinGecko calls the daily universe discovery makes (250 coins a call)."""
    return math.ceil(settings.ACCRUAL_UNIVERSE_SIZE / QUOTES_PER_CALL)


def workload(*, now: dt.datetime, priority: set[int]) -> Workload:
    tracked = Token.objects.tracked()
    quotable = Q(coingecko_id__isnull=False)
    protocol = Q(defillama_slug__isnull=False)
    counts = tracked.aggregate(
        tracked=Count("pk", filter=quotable),
        # A token not quoted for a day has a missing day for the history job to fill.
        history=Count("pk", filter=quotable & (Q(price_history_at=None) | Q(quoted_at__lt=now - dt.timedelta(days=1)))),
        protocols=Count("pk", filter=protocol),
        # The overview vouches only for protocols stored up to the day before yesterday.
        revenue=Count(
            "pk",
            filter=protocol & (Q(revenue_history_at=None) | Q(revenue_history_at__lt=now - dt.timedelta(days=2))),
        ),
    )
    return Workload(
        tracked=counts["tracked"],
        priority=len(priority),
        history_backlog=counts["history"],
        protocols=counts["protocols"],
        revenue_backlog=counts["revenue"],
        discovery_calls=discovery_calls_a_day(),
    )


def market_interval() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MARKETS_REFRESH_SECONDS)


def current_plan(*, now: dt.datetime | None = None, priority: set[int] | None = None) -> Plan:
    now = now or timezone.now()
    if settings.ACCRUAL_DATA_MODE != "live":
        return unlimited_plan(now=now, interval=market_interval())
    priority = priority_token_ids() if priority is None else priority
    markets, revenue = provider_budgets()
    return budget_plan(
        now=now, interval=market_interval(), markets=markets, revenue=revenue, work=workload(now=now, priority=priority)
    )


# --- The scheduler ----------------------------------------------------------------------------


def markets_due(*, plan: Plan, priority: set[int], now: dt.datetime) -> list[int] | None:
    """The tokens this market run quotes (None: every token, the sample's way).

    Each tier takes its least recently quoted tokens, up to the run's allowance of calls: the
    day's calls are spread evenly over the runs, so every token of a tier is quoted within its
    cadence (an "older than the cadence" filter would instead leave calls unused in one run
    and tokens overdue in the next, whenever the allowance changes from run to run)."""
    if plan.unlimited:
        return None
    index = plan.run_index(now)
    # The plan's rates round per run; what is left of the quota is the hard stop.
    calls_left = plan.quotas[COINGECKO].remaining
    quotable = Token.objects.quotable()
    oldest_first = (F("quoted_at").asc(nulls_first=True), "pk")
    chosen: list[int] = []
    for name, tokens in ((PRIORITY, quotable.filter(pk__in=priority)), (REST, quotable.exclude(pk__in=priority))):
        calls = plan.tiers[name].allowance(index, plan.runs_a_day)
        if calls_left is not None:
            calls = max(min(calls, calls_left - math.ceil(len(chosen) / QUOTES_PER_CALL)), 0)
        # The priority tier's last page has room the rest fill without another call.
        room = calls * QUOTES_PER_CALL + (-len(chosen) % QUOTES_PER_CALL if name == REST else 0)
        if room:
            chosen += tokens.order_by(*oldest_first).values_list("pk", flat=True)[:room]
    return chosen


def markets_run(*, provider, now: dt.datetime | None = None):
    """One scheduled market run: plan, choose the due tokens, quote them. None when nothing is
    due (the quota is spent, or no call falls on this run)."""
    from . import refresh

    now = now or timezone.now()
    priority = priority_token_ids() if settings.ACCRUAL_DATA_MODE == "live" else set()
    plan = current_plan(now=now, priority=priority)
    token_ids = markets_due(plan=plan, priority=priority, now=now)
    if token_ids == []:
        return None
    return refresh.market_refresh(provider=provider, token_ids=token_ids)


def history_run(*, provider, now: dt.datetime | None = None, deadline: float | None = None):
    """The daily price-history job within the plan's calls: a backfill of thousands of tokens
    goes on over successive days. None when the plan gives it no call today."""
    from . import history

    max_calls = current_plan(now=now).jobs["price-history"].max_calls
    if max_calls == 0:
        return None
    return history.price_history_refresh(provider=provider, max_calls=max_calls, deadline=deadline)


def revenue_run(*, provider, now: dt.datetime | None = None, deadline: float | None = None):
    from . import history

    max_calls = current_plan(now=now).jobs["revenue-history"].max_calls
    if max_calls == 0:
        return None
    return history.revenue_refresh(provider=provider, max_calls=max_calls, deadline=deadline)


# --- Showing the plan ------------------------------------------------------------------------


def plan_tables(plan: Plan) -> dict[str, list[tuple[str, ...]]]:
    """The plan as rows of text, for ``refresh_data --plan`` and the admin page alike."""
    jobs = [
        (
            job.name,
            job.provider,
            "no limit" if job.max_calls is None else f"{job.calls_a_day:,}",
            "no limit" if job.max_calls is None else f"{job.max_calls:,}",
        )
        for job in plan.jobs.values()
    ]
    tiers = [(t.name, f"{t.tokens:,}", _cadence_text(t.cadence), f"{t.calls_a_day:,}") for t in plan.tiers.values()]
    if plan.unlimited:
        tiers = [("every token", "all", _cadence_text(plan.interval), "no limit")]
    quotas = [
        (
            q.provider,
            f"{q.per_minute:,} a minute" if q.per_minute else "no limit",
            f"{q.monthly_quota:,}" if q.monthly_quota else "none",
            f"{q.used:,}",
            f"{q.planned_a_day:,}",
            "—" if q.projected_month_total is None else f"{q.projected_month_total:,} of {q.monthly_quota:,}",
        )
        for q in plan.quotas.values()
    ]
    return {"jobs": jobs, "tiers": tiers, "quotas": quotas}


PLAN_HEADINGS = {
    "jobs": ("job", "provider", "calls a day", "calls a run"),
    "tiers": ("tier", "tokens", "cadence", "calls a day"),
    "quotas": ("provider", "rate", "monthly quota", "used this month", "planned a day", "projected month total"),
}
