"""Alerts in a real browser: a reader adds a band-change rule for a token in the form, a
refresh changes the token's revenue so its investor grade moves up, and the reader sees
the notification and the unread badge, and receives the email."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from apps.ratings.services import ratings_recompute
from apps.tokens.models import RevenueDay, Token
from apps.tokens.snapshots import snapshots_recompute
from apps.tokens.tasks import refresh_followup
from tests.e2e.test_watchlists import log_in
from tests.factories import UserFactory
from tests.ratings.builders import END, rated_universe
from tests.support.plans import ensure_plans

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reader_adds_a_band_rule_and_is_told_when_a_refresh_moves_the_grade(
    live_server, page, console_errors, mailoutbox
):
    ensure_plans()
    rated_universe()
    ratings_recompute(day=END - dt.timedelta(days=1))  # yesterday: beta's investor grade is C
    ratings_recompute(day=END)
    beta = Token.objects.get(slug="beta")
    log_in(page.context, live_server, UserFactory(email="reader@example.com"))

    page.goto(f"{live_server.url}/tokens/beta/")
    page.get_by_role("link", name="Create alert").click()
    expect(page.get_by_label("Token")).to_have_value("beta")
    page.get_by_label("When").select_option(label="Investor grade changes band")
    page.get_by_label("Direction").select_option("up")
    page.get_by_label("Tell me by").select_option(label="Email at once")
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("tr[data-rule]")).to_have_count(1)
    expect(page.locator("tr[data-rule]")).to_contain_text("investor grade changes band (up)")

    # A refresh: beta's last 30 days of revenue are restated far higher; the refresh's
    # follow-up rates the day again and evaluates the alerts, as a worker would.
    RevenueDay.objects.filter(token=beta, date__gt=END - dt.timedelta(days=30)).update(
        fees_usd=1_000_000, revenue_usd=500_000, holders_revenue_usd=400_000
    )
    snapshots_recompute(token_ids=[beta.pk], since=END)
    refresh_followup(changed_tokens={beta.pk}, foreground=True)

    page.goto(f"{live_server.url}/notifications/")
    expect(page.locator("li[data-notification]")).to_have_count(1)
    expect(page.locator("li[data-notification]")).to_contain_text("BET: investor grade C → A on 2026-06-30")
    expect(page.locator("#unread-badge")).to_contain_text("1")

    page.get_by_role("button", name="Mark read").click()
    expect(page.locator("li[data-notification]")).to_contain_text("Read")
    expect(page.locator("#unread-badge .count")).to_have_count(0)

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["reader@example.com"]
    assert "BET: investor grade C → A" in mailoutbox[0].subject
    assert console_errors == []
