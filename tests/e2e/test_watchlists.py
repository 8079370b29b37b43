"""Watchlists in a real browser: a logged-in reader stars a token on the screener (an HTMX
swap, no reload) and finds it on their watchlist."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from playwright.sync_api import expect

from apps.accounts.models import Plan
from tests.factories import UserFactory
from tests.support.plans import ensure_plans
from tests.watchlists.builders import priced_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(context, live_server, user) -> None:
    """A session made as Django's login() makes one, its cookie set in the browser: no
    dependence on which login pages are installed."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": live_server.url}])


def test_a_reader_stars_a_token_on_the_screener_and_sees_it_on_the_watchlist(live_server, page, console_errors):
    ensure_plans()
    priced_token("alpha", investor="B")
    priced_token("beta", investor="C")
    log_in(page.context, live_server, UserFactory())

    page.goto(f"{live_server.url}/tokens/")
    page.evaluate("window.__marker = 1")
    star = page.get_by_role("button", name="Add ALPHA to watchlist")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()

    starred = page.get_by_role("button", name="Remove ALPHA from watchlist")
    expect(starred).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Add BETA to watchlist")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("window.__marker") == 1  # swapped in place, not reloaded

    page.get_by_role("link", name="Watchlists").click()
    page.get_by_role("link", name="My watchlist").click()
    expect(page.locator("h1")).to_contain_text("My watchlist")
    expect(page.locator("tr[data-token]")).to_have_count(1)
    expect(page.locator('tr[data-token="alpha"]')).to_contain_text("ALPHA")
    expect(page.locator('[data-total="a-or-b"]')).to_contain_text("1 of 1")
    assert console_errors == []


def test_a_full_watchlist_says_so_beside_the_star(live_server, page, console_errors):
    ensure_plans()
    Plan.objects.filter(slug="free").update(max_tokens_per_watchlist=1)
    priced_token("alpha")
    priced_token("beta")
    log_in(page.context, live_server, UserFactory())

    page.goto(f"{live_server.url}/tokens/")
    page.get_by_role("button", name="Add ALPHA to watchlist").click()
    expect(page.get_by_role("button", name="Remove ALPHA from watchlist")).to_be_visible()
    page.get_by_role("button", name="Add BETA to watchlist").click()

    expect(page.get_by_role("alert")).to_contain_text("Your Free plan allows 1 tokens a watchlist")
    expect(page.get_by_role("button", name="Add BETA to watchlist")).to_have_attribute("aria-pressed", "false")
    # The browser logs the 422 response as an error; nothing else may appear.
    assert [e for e in console_errors if "422" not in e] == []


def test_the_star_works_without_javascript(live_server, browser):
    ensure_plans()
    priced_token("alpha")
    context = browser.new_context(java_script_enabled=False)
    log_in(context, live_server, UserFactory())
    page = context.new_page()
    page.goto(f"{live_server.url}/tokens/?q=alp")

    page.get_by_role("button", name="Add ALPHA to watchlist").click()

    page.wait_for_url("**/tokens/?q=alp")
    expect(page.get_by_role("button", name="Remove ALPHA from watchlist")).to_have_attribute("aria-pressed", "true")
    context.close()
