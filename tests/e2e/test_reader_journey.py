"""A new reader's whole first visit in a real browser, through the site's own pages only:
sign up, confirm from the email, log in, star a token on the screener, find it on the
watchlist, add an alert rule for it, and — after a refresh moves its grade — see the
notification and receive the email."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from apps.ratings.services import ratings_recompute
from apps.tokens.models import RevenueDay, Token
from apps.tokens.snapshots import snapshots_recompute
from apps.tokens.tasks import refresh_followup
from tests.ratings.builders import END, rated_universe
from tests.support.plans import ensure_plans

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unguessable phrase"


def test_a_new_reader_signs_up_stars_a_token_sets_an_alert_and_is_told_when_its_grade_moves(
    live_server, page, console_errors, mailoutbox
):
    ensure_plans()
    rated_universe()
    ratings_recompute(day=END - dt.timedelta(days=1))
    ratings_recompute(day=END)  # beta's investor grade is C
    beta = Token.objects.get(slug="beta")

    # Sign up, confirm from the email in the outbox, log in.
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill("newreader@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    assert len(mailoutbox) == 1
    page.goto(re.search(r"https?://\S+/account/confirm-email/\S+/", mailoutbox[0].body).group(0))
    page.get_by_role("button", name="Confirm").click()
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("Email").fill("NewReader@Example.com")  # any case: one account
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    # Star beta on the screener (swapped in place), then find it on the watchlist.
    page.get_by_role("link", name="Screener").click()
    page.evaluate("window.__marker = 1")
    page.get_by_role("button", name=f"Add {beta.symbol} to watchlist").click()
    expect(page.get_by_role("button", name=f"Remove {beta.symbol} from watchlist")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.evaluate("window.__marker") == 1
    page.get_by_role("link", name="Watchlists").click()
    page.get_by_role("link", name="My watchlist").click()
    expect(page.locator("tr[data-token]")).to_have_count(1)
    expect(page.locator('tr[data-token="beta"]')).to_be_visible()

    # An alert on beta's investor band, by email at once.
    page.goto(f"{live_server.url}/tokens/beta/")
    page.get_by_role("link", name="Create alert").click()
    page.get_by_label("When").select_option(label="Investor grade changes band")
    page.get_by_label("Tell me by").select_option(label="Email at once")
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("tr[data-rule]")).to_have_count(1)

    # A refresh restates beta's revenue far higher; its follow-up rates the day again and
    # evaluates the alerts, as the workers do.
    RevenueDay.objects.filter(token=beta, date__gt=END - dt.timedelta(days=30)).update(
        fees_usd=1_000_000, revenue_usd=500_000, holders_revenue_usd=400_000
    )
    snapshots_recompute(token_ids=[beta.pk], since=END)
    refresh_followup(changed_tokens={beta.pk}, foreground=True)

    page.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(page.locator("li[data-notification]")).to_have_count(1)
    expect(page.locator("li[data-notification]")).to_contain_text(f"{beta.symbol}: investor grade C → A")
    expect(page.locator("#unread-badge")).to_contain_text("1")
    alerts = [m for m in mailoutbox if m.to == ["newreader@example.com"] and "investor grade" in m.subject]
    assert len(alerts) == 1
    assert console_errors == []
