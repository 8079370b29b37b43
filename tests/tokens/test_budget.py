"""The request budget's arithmetic (pure), and how it is shown (command and admin)."""

import datetime as dt
import math

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.tokens import budget
from apps.tokens.budget import ProviderBudget, Workload, budget_plan
from tests.factories import UserFactory
from tests.tokens.test_admin import editors_group  # noqa: F401 (a fixture)

QUARTER = dt.timedelta(minutes=15)
DEC_1 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # 31 days left in the month


def plan(*, used=0, quota=10_000, per_minute=30, tracked=20_000, priority=250, history=0, now=DEC_1, **work):
    return budget_plan(
        now=now,
        interval=QUARTER,
        markets=ProviderBudget("coingecko", per_minute, quota, used),
        revenue=ProviderBudget("defillama", 120, 0, 0),
        work=Workload(tracked=tracked, priority=priority, history_backlog=history, **work),
    )


def test_demo_plan_at_20000_tokens():
    # 10,000 over 31 days: 322 a day. Priority: 1 call × 96 runs; the other 19,750 tokens
    # once a day (79 calls); the history backlog gets what is left: 147.
    p = plan(history=20_000)
    assert p.quotas["coingecko"].daily_budget == 322
    assert p.tiers["priority"].calls_a_day == 96 and p.tiers["priority"].cadence == QUARTER
    assert p.tiers["rest"].calls_a_day == 79 and p.tiers["rest"].cadence == dt.timedelta(days=1)
    assert p.jobs["price-history"].max_calls == 147
    assert p.quotas["coingecko"].planned_a_day == 322
    assert p.quotas["coingecko"].projected_month_total == 322 * 31 <= 10_000
    assert any("History backlog" in note for note in p.notes)


def test_leftover_budget_speeds_up_the_rest_once_the_backlog_is_done():
    p = plan(history=0)
    rest = p.tiers["rest"]
    assert rest.calls_a_day == 322 - 96
    assert rest.cadence == QUARTER * math.ceil(79 * 96 / (322 - 96))  # every 8.5 h
    assert p.quotas["coingecko"].planned_a_day == 322


def test_a_generous_plan_quotes_everyone_every_run_within_the_per_minute_limit():
    p = plan(quota=0, per_minute=500, history=1_000)
    assert p.tiers["priority"].cadence == p.tiers["rest"].cadence == QUARTER
    assert p.jobs["markets"].max_calls == 80 <= 500 * 15
    assert p.jobs["price-history"].max_calls == 1_000
    assert p.quotas["coingecko"].projected_month_total is None


def test_no_limits_at_all_quote_everyone_every_run():
    p = plan(quota=0, per_minute=0, history=30_000)
    assert p.tiers["rest"].cadence == QUARTER and p.jobs["markets"].max_calls == 80
    assert p.jobs["price-history"].max_calls == 30_000 and not p.notes


def test_per_minute_limit_bounds_a_run():
    # 30 a minute: a 15-minute run makes at most 450 calls; 200,000 tokens need 800.
    p = plan(quota=0, tracked=200_000, history=50_000)
    assert p.jobs["markets"].max_calls <= 450
    assert p.tiers["rest"].cadence == QUARTER * 2  # 799 calls over runs of at most 449
    assert p.jobs["price-history"].max_calls == 30 * budget.DAILY_JOB_MINUTES


def test_a_tiny_quota_slows_the_priority_tier_too_and_says_so():
    p = plan(quota=620, tracked=1_000, priority=500)  # 20 calls a day; the tier needs 2 a run
    priority = p.tiers["priority"]
    assert priority.calls_a_day == 20
    assert priority.cadence == QUARTER * math.ceil(2 * 96 / 20)
    assert p.tiers["rest"].calls_a_day == 0 and p.tiers["rest"].cadence is None
    assert p.quotas["coingecko"].planned_a_day == 20
    assert any("priority tier" in note for note in p.notes)
    assert any("once a day" in note for note in p.notes)


def test_an_exhausted_quota_plans_nothing():
    p = plan(used=10_000, history=500)
    assert p.quotas["coingecko"].planned_a_day == 0
    assert p.tiers["priority"].cadence is None
    assert all(p.tiers[t].allowance(i, 96) == 0 for t in p.tiers for i in range(96))
    assert p.jobs["price-history"].max_calls == 0
    assert any("quota is spent" in note for note in p.notes)


def test_what_is_left_spreads_over_the_days_left_and_never_past_the_quota():
    late = dt.datetime(2026, 12, 31, 18, tzinfo=dt.UTC)  # six hours left
    p = plan(used=9_900, now=late, history=5_000)
    assert p.quotas["coingecko"].daily_budget == 400  # a rate: 100 calls over the quarter day left
    assert p.quotas["coingecko"].planned_a_day * 0.25 <= 100
    assert p.quotas["coingecko"].projected_month_total <= 10_000
    mid = plan(used=5_000, now=dt.datetime(2026, 12, 16, tzinfo=dt.UTC), history=5_000)
    assert mid.quotas["coingecko"].daily_budget == 5_000 // 16
    assert mid.quotas["coingecko"].projected_month_total <= 10_000


@pytest.mark.parametrize("calls_a_day", [1, 7, 79, 96, 150, 322])
def test_allowance_spreads_the_days_calls_and_covers_a_tier_within_its_cadence(calls_a_day):
    tier = budget._tier("rest", 19_750, calls_a_day, 96, QUARTER)
    start = 1_234_567
    assert sum(tier.allowance(i, 96) for i in range(start, start + 96)) == min(calls_a_day, 79 * 96)
    window = int(tier.cadence / QUARTER)
    for first in range(start, start + 200):
        assert sum(tier.allowance(i, 96) for i in range(first, first + window)) >= tier.calls_a_cycle


def test_revenue_fits_the_per_minute_limit_and_its_quota():
    p = budget_plan(
        now=DEC_1,
        interval=QUARTER,
        markets=ProviderBudget("coingecko", 30, 0, 0),
        revenue=ProviderBudget("defillama", 120, 0, 0),
        work=Workload(tracked=0, priority=0, protocols=5_000, revenue_backlog=5_000),
    )
    assert p.jobs["revenue-history"].max_calls == 120 * 30
    quota = budget_plan(
        now=DEC_1,
        interval=QUARTER,
        markets=ProviderBudget("coingecko", 30, 0, 0),
        revenue=ProviderBudget("defillama", 120, 3_100, 0),
        work=Workload(tracked=0, priority=0, protocols=10, revenue_backlog=2),
    )
    assert quota.jobs["revenue-history"].max_calls == 3 + 2 * 3  # within its 100 a day


@pytest.mark.django_db
def test_refresh_data_plan_prints_the_plan(settings, capsys, monkeypatch):
    settings.ACCRUAL_DATA_MODE = "live"
    monkeypatch.setattr(budget, "calls_used", lambda provider: 1_234)
    call_command("refresh_data", "--plan")
    out = capsys.readouterr().out
    assert "Request budget as of" in out
    assert "1,234" in out and "price-history" in out and "priority" in out


@pytest.mark.django_db
def test_refresh_data_plan_in_sample_mode_says_unlimited(capsys):
    call_command("refresh_data", "--plan")
    out = capsys.readouterr().out
    assert "no limit" in out and "no quota" in out


@pytest.mark.django_db
@pytest.mark.usefixtures("editors_group")
def test_admin_shows_the_plan_to_those_who_see_sync_runs(client):
    url = "/admin/tokens/syncrun/plan/"
    client.force_login(UserFactory())
    assert client.get(url).status_code == 302  # a reader: to the admin login
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 403  # staff without the editors' permissions
    editor = UserFactory(is_staff=True)
    editor.groups.add(Group.objects.get(name="Editors"))
    client.force_login(editor)
    page = client.get(url)
    assert page.status_code == 200 and b"Request budget" in page.content and b"As of" in page.content
    assert b"tokens/syncrun/plan/" in client.get("/admin/tokens/syncrun/").content


@pytest.mark.django_db
def test_the_priority_tier_is_the_largest_plus_what_readers_follow(settings, monkeypatch):
    from tests.factories import TokenFactory

    settings.ACCRUAL_PRIORITY_TOKENS = 2
    tokens = [TokenFactory(coingecko_id=f"cg-{n}", market_cap_rank=n) for n in range(1, 6)]
    excluded = TokenFactory(coingecko_id="cg-x", market_cap_rank=99, editor_choice="exclude")
    assert "watchlists" in budget.PRIORITY_SOURCES  # registered by apps.watchlists
    monkeypatch.setitem(budget.PRIORITY_SOURCES, "top10", lambda: [tokens[4].pk, excluded.pk])
    assert budget.priority_token_ids() == {tokens[0].pk, tokens[1].pk, tokens[4].pk}
