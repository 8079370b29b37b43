"""Plans: Free and Pro as data, the default plan, staff assigning plans, and usage."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.accounts.models import Plan
from apps.accounts.selectors import plan_for, usage_for
from apps.watchlists.services import watchlist_add, watchlist_create
from tests.factories import TokenFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_reader_without_a_plan_has_the_default_plan():
    assert plan_for(UserFactory()).slug == "free"


def test_changing_the_default_plan_moves_readers_without_one():
    user = UserFactory()
    Plan.objects.filter(slug="free").update(is_default=False)
    Plan.objects.filter(slug="pro").update(is_default=True)
    assert plan_for(user).slug == "pro"


def test_an_assigned_plan_wins_over_the_default():
    user = UserFactory(plan=Plan.objects.get(slug="pro"))
    assert plan_for(user).slug == "pro"


def test_without_any_plan_the_free_limits_still_apply():
    Plan.objects.all().delete()
    plan = plan_for(UserFactory())
    assert plan.pk is None and (plan.max_watchlists, plan.max_tokens_per_watchlist) == (3, 50)


def test_only_one_plan_can_be_the_default():
    with pytest.raises(IntegrityError), transaction.atomic():
        Plan.objects.filter(slug="pro").update(is_default=True)


def test_usage_counts_lists_and_the_largest_list():
    user = UserFactory()
    assert (usage_for(user).watchlists_used, usage_for(user).largest_watchlist) == (0, 0)
    ideas = watchlist_create(user=user, name="Ideas")
    watchlist_create(user=user, name="Core")
    for _ in range(3):
        watchlist_add(user=user, token=TokenFactory(), watchlist=ideas)
    usage = usage_for(user)
    assert (usage.watchlists_used, usage.largest_watchlist, usage.watchlists_left) == (2, 3, 1)


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_staff_assign_a_plan_in_the_user_admin(staff_client):
    reader = UserFactory()
    pro = Plan.objects.get(slug="pro")
    page = staff_client.get(f"/admin/accounts/user/{reader.pk}/change/")
    assert page.status_code == 200 and 'name="plan"' in page.content.decode()
    response = staff_client.post(
        f"/admin/accounts/user/{reader.pk}/change/",
        {
            "email": reader.email,
            "display_name": "",
            "plan": pro.pk,
            "is_active": "on",
            "date_joined_0": "2026-11-20",
            "date_joined_1": "10:00:00",
            "initial-date_joined_0": "2026-11-20",
            "initial-date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    reader.refresh_from_db()
    assert reader.plan == pro and plan_for(reader) == pro


def test_staff_edit_a_plans_limits_in_the_admin(staff_client):
    free = Plan.objects.get(slug="free")
    response = staff_client.post(
        f"/admin/accounts/plan/{free.pk}/change/",
        {
            "name": "Free",
            "slug": "free",
            "is_default": "on",
            "description": "",
            "how_to_upgrade": "Write to us.",
            "max_watchlists": 5,
            "max_tokens_per_watchlist": 60,
            "max_alert_rules": 10,
            "max_webhooks": 0,
            "api_requests_per_minute": 30,
            "api_requests_per_month": 30_000,
            "api_requests_per_day": 1000,
        },
    )
    assert response.status_code == 302
    free.refresh_from_db()
    assert (free.max_watchlists, free.max_tokens_per_watchlist, free.how_to_upgrade) == (5, 60, "Write to us.")


def test_the_plan_usage_partial_shows_plan_limits_usage_and_how_to_upgrade(client):
    user = UserFactory()
    watchlist_create(user=user, name="Core")
    client.force_login(user)
    html = client.get("/watchlists/").content.decode()
    assert "Your plan: Free" in html
    assert 'data-usage="watchlists">1 of 3<' in html
    assert "up to 50" in html and "30 a minute, 30,000 a month" in html
    assert "hello@accrual.invalid" in html
