"""Every page, public and a signed-in reader's, with the bundled sample data, fits the window at
1400 and 390 px (wide tables scroll inside their card, never the page) and passes axe-core's
WCAG 2.1 AA rules in Chromium.

axe-core is vendored (tests/e2e/vendor/) and injected with ``page.evaluate``: that runs through the
DevTools protocol, which the site's CSP does not govern, so the pages are checked with their CSP
enforced (``page.add_script_tag`` would be refused by ``script-src 'self' 'nonce-…'``, and
``bypass_csp`` would also let through inline styles the real site refuses).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import Browser, Page, Playwright, expect
from pytest_django.live_server_helper import LiveServer

from apps.tokens.ingestion import sample_data_load
from tests.support.plans import ensure_plans

# Plain django_db (not transactional): each test only reads what the module fixture committed.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = [1400, 390]
HEIGHT = 900
MAX_ELEMENTS_SHOWN = 10  # per axe rule; the rest are named in one line


READER_SESSION: dict[str, str] = {}


def _reader_with_lists_and_alerts() -> str:
    """A reader with a watchlist, alert rules and an unread notification; their session key."""
    from importlib import import_module

    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from apps.accounts.models import Plan
    from apps.tokens.models import Token
    from apps.watchlists.alerts import alert_rule_create
    from apps.watchlists.models import AlertKind, Notification
    from apps.watchlists.services import watchlist_add
    from apps.watchlists.webhooks import webhook_create, webhook_send_test
    from tests.factories import UserFactory

    reader = UserFactory(email="reader@example.com")
    EmailAddress.objects.create(user=reader, email=reader.email, verified=True, primary=True)
    tokens = list(Token.objects.filter(slug__in=["hyperliquid", "aave", "geodnet", "chainlink"]))
    for token in tokens:
        watchlist_add(user=reader, token=token)
    rule = alert_rule_create(user=reader, kind=AlertKind.INVESTOR_BAND, token=tokens[0])
    alert_rule_create(user=reader, kind=AlertKind.PS_CROSS, token=tokens[1], threshold=10)
    Notification.objects.create(
        user=reader, rule=rule, event_key="band:layout-test", token=tokens[0], message="Investor grade moved B → A"
    )
    reader.plan = Plan.objects.get(slug="pro")  # webhooks are Pro's
    reader.save(update_fields=["plan"])
    webhook_send_test(webhook=webhook_create(user=reader, url="http://127.0.0.1:9/accrual-hook"))
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(reader.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = reader.get_session_auth_hash()
    session.save()
    return session.session_key


@pytest.fixture(scope="module")
def site_url(django_db_setup, django_db_blocker) -> Generator[str, None, None]:
    """The sample data, loaded once (about 20 s) and served by a live server of this module's own.

    pytest-django's ``live_server`` flushes the database after every test, which would mean a load
    per page. Here the module loads once and, at its end, puts the database back as it found it
    (what the migrations wrote, such as the Editors group), as a transactional test with
    serialized rollback would: pytest-django runs these plain ``django_db`` tests (the mark is what
    makes it create the test database) before the transactional ones, among tests that expect
    that data.
    """
    with django_db_blocker.unblock():
        # Never load into, or flush, a database that is not the test database.
        name = str(connection.settings_dict["NAME"])
        assert name.startswith("test_") or "memorydb" in name, f"not a test database: {name}"
        as_found = connection.creation.serialize_db_to_string()
        sample_data_load()
        ensure_plans()
        READER_SESSION["key"] = _reader_with_lists_and_alerts()
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield server.url
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0, reset_sequences=False, inhibit_post_migrate=True)
            connection.creation.deserialize_db_from_string(as_found)
            # With Playwright's event loop running, this fixture has a connection of its own
            # (asgiref's context-local storage): close it, or the test database cannot be dropped.
            connection.close()


@dataclass(frozen=True)
class PageState:
    """A page as a reader finds it: its URL, what proves the state was reached (the status, the
    h1, and a selector that must match), and for swapped or opened states what the reader did."""

    name: str
    path: str
    heading: str | None  # text of the page's h1
    proof: str = "main"
    act: Callable[[Page], None] | None = None
    status: int = 200
    reader: bool = False  # seen by a signed-in reader (their lists, alerts, account)


def sort_screener_by_ps(page: Page) -> None:
    page.locator("#results thead a", has_text="P/S").click()


def sort_leaderboard_by_name(page: Page) -> None:
    page.locator("#results thead a", has_text="Token").click()


def open_every_component(page: Page) -> None:
    page.locator("details.component").evaluate_all("ds => ds.forEach(d => { d.open = true; })")


def open_the_first_watchlist(page: Page) -> None:
    page.locator(".watchlists-table a").first.click()
    page.wait_for_url("**/watchlists/*/")


def open_the_first_webhook(page: Page) -> None:
    page.locator("main th a[href^='/webhooks/']").first.click()
    page.wait_for_url("**/webhooks/*/")


def compare_from_the_first_rating(page: Page) -> None:
    start = page.locator("#compare-start")
    start.fill(start.get_attribute("min"))
    page.locator(".what-changed button[type=submit]").click()
    expect(page.locator("#rating-changes .compare-table thead")).to_contain_text(start.get_attribute("min"))


SORTED_ASC = '#results th.sorted[aria-sort="ascending"]'
PAGES = [
    PageState("home", "/", "Tokens valued", ".board tbody tr"),
    PageState("screener", "/tokens/", "Screener", ".pager .disabled"),
    PageState("screener-filtered-sorted", "/tokens/?category=lending&sort=ps&dir=asc", "Screener", SORTED_ASC),
    PageState("screener-page-2", "/tokens/?page=2", "Screener", '.pager a[rel="prev"]'),
    PageState("screener-bad-filter", "/tokens/?mcap_min=lots", "Screener", ".form-errors"),
    PageState("screener-sorted-by-htmx", "/tokens/", "Screener", f"{SORTED_ASC} >> text=P/S", sort_screener_by_ps),
    PageState("token-rated", "/tokens/aave/", "Aave", "details.component[open] .component-table", open_every_component),
    PageState(
        "token-compared-by-htmx", "/tokens/hyperliquid/", "Hyperliquid", ".compare-table", compare_from_the_first_rating
    ),
    PageState("token-without-revenue", "/tokens/chainlink/", "Chainlink"),
    PageState("token-events", "/tokens/aerodrome/events/", "Aerodrome", ".data tbody tr"),
    PageState("token-reports", "/tokens/aerodrome/reports/", "Aerodrome", ".data tbody tr"),
    PageState("ratings", "/ratings/", "Ratings", ".ratings-table .grade"),
    PageState(
        "ratings-sorted-by-htmx", "/ratings/", "Ratings", f"{SORTED_ASC} >> text=Token", sort_leaderboard_by_name
    ),
    PageState("methodology", "/ratings/methodology/", "Ratings methodology", ".weights-table"),
    PageState("track-record", "/ratings/track-record/", "Track record", ".track-table"),
    PageState(
        "rating-changes",
        "/ratings/aave/changes/?start=2026-06-01&end=2026-11-20",
        "Aave: what changed",
        ".compare-table",
    ),
    PageState(
        "rating-changes-bad-dates",
        "/ratings/aave/changes/?start=2026-13-01&end=2026-11-01",
        "what changed",
        ".form-errors",
    ),
    PageState("top-lists", "/top-lists/", "Top 10 lists", ".top-list-card"),
    PageState("top-list", "/top-lists/sample-top-10-revenue-sharers/", "Top 10 revenue sharers", ".past-table"),
    PageState("top-list-archived", "/top-lists/sample-depin-earners/", "DePIN earners", "#top-list-chart canvas"),
    PageState("not-found", "/tokens/no-such-token/", "Not found", status=404),
    # The admin's login is the accounts login (same rate limits and 2FA).
    PageState("admin-login", "/admin/login/", "Sign In", 'form.account-form[action="/account/login/"]'),
    PageState("sign-up", "/account/signup/", "Sign Up", 'form.account-form[action="/account/signup/"]'),
    PageState("password-reset", "/account/password/reset/", "Password Reset", "form.account-form"),
    # A signed-in reader's pages, and a public page with the reader's header and stars.
    PageState("reader-screener", "/tokens/", "Screener", ".star", reader=True),
    PageState("reader-token", "/tokens/hyperliquid/", "Hyperliquid", ".star", reader=True),
    PageState("reader-watchlists", "/watchlists/", "Your watchlists", ".plan-usage", reader=True),
    PageState("reader-watchlist", "/watchlists/", None, ".watchlist-table", open_the_first_watchlist, reader=True),
    PageState("reader-alerts", "/alerts/", "Your alerts", "form", reader=True),
    PageState("reader-webhooks", "/webhooks/", "Your webhooks", "form", reader=True),
    PageState("reader-webhook", "/webhooks/", None, "#secret-h", open_the_first_webhook, reader=True),
    PageState("reader-notifications", "/notifications/", "Notifications", "main", reader=True),
    PageState("reader-top-list", "/top-lists/sample-perpetuals-exchanges/", "perpetuals", ".star", reader=True),
    PageState("reader-account", "/account/", "Your account", "#plan", reader=True),
]

# Elements reaching past the layout viewport, outermost first, skipping those a scrolling (or
# clipping) ancestor contains: those are what make the page scroll sideways.
OVERFLOWING_ELEMENTS_JS = """() => {
  const limit = document.documentElement.clientWidth;
  const clipped = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map(c => '.' + c).join('');
  const found = [], reports = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= limit + 0.5 || clipped(el)) continue;
    if (found.some(outer => outer.contains(el))) continue;
    const path = [];
    for (let a = el; a && a !== document.body; a = a.parentElement) path.unshift(describe(a));
    found.push(el);
    reports.push(`${path.join(' > ')} (right edge at ${Math.round(box.right)} px)`);
  }
  return reports.slice(0, 8);
}"""

SCROLL_SIDEWAYS_TO_THE_END_JS = """() => {
  const wide = [...document.body.querySelectorAll('*')].filter(el => el.scrollWidth > el.clientWidth
    && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX));
  wide.forEach(el => { el.scrollLeft = el.scrollWidth; });
  return wide.length > 0;
}"""

SETTLED_JS = """() => document.querySelectorAll('.htmx-request, .htmx-swapping, .htmx-settling').length === 0
  && [...document.querySelectorAll('.results, .comparison')].every(el => getComputedStyle(el).opacity === '1')"""


@pytest.fixture(scope="module")
def chromium(playwright: Playwright, browser_type_launch_args: dict) -> Generator[Browser, None, None]:
    """Chromium launched here, not through pytest-playwright's ``browser``: that one is parametrised
    by browser name, and pytest keeps tests sharing that parameter together, so these
    non-transactional tests would pull the transactional browser tests (which flush the database)
    ahead of every other non-transactional test."""
    browser = playwright.chromium.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture
def page_at(chromium: Browser) -> Generator[Callable[[int], Page], None, None]:
    contexts = []

    def open_page(width: int) -> Page:
        context = chromium.new_context(viewport={"width": width, "height": HEIGHT})
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def layout_problems(page: Page) -> list[str]:
    # clientWidth leaves out a classic vertical scrollbar, so this is at least as strict as
    # comparing with window.innerWidth.
    scroll_width, client_width = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if scroll_width <= client_width:
        return []
    return [
        f"the page is {scroll_width} px wide in a {client_width} px window; sticking out:",
        *(f"  {report}" for report in page.evaluate(OVERFLOWING_ELEMENTS_JS)),
    ]


@functools.cache
def axe_source() -> str:
    return AXE_JS.read_text()


def axe_violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    return page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
             .then(result => result.violations)""",
        WCAG_21_AA,
    )


def axe_problems(page: Page) -> list[str]:
    """axe's violations as loaded and, where something scrolls sideways (a wide table), again
    scrolled to its right end: axe cannot judge the contrast of cells scrolled out of view."""
    runs = [axe_violations(page)]
    if page.evaluate(SCROLL_SIDEWAYS_TO_THE_END_JS):
        runs.append(axe_violations(page))
    rules: dict[str, dict] = {}
    elements: dict[str, dict[str, dict]] = {}
    for violation in (v for run in runs for v in run):
        rules.setdefault(violation["id"], violation)
        for node in violation["nodes"]:
            target = " ".join(part if isinstance(part, str) else json.dumps(part) for part in node["target"])
            elements.setdefault(violation["id"], {}).setdefault(target, node)
    problems = []
    for rule_id, violation in rules.items():
        problems.append(
            f"axe {rule_id} ({violation['impact']}, {len(elements[rule_id])} element(s)): "
            f"{violation['help']} <{violation['helpUrl'].split('?')[0]}>"
        )
        nodes = list(elements[rule_id].items())
        for target, node in nodes[:MAX_ELEMENTS_SHOWN]:
            summary = " ".join(line.strip() for line in node["failureSummary"].splitlines()[1:])
            problems.append(f"  {target}: {summary}")
            problems.append(f"    {node['html'][:160]}")
        if len(nodes) > MAX_ELEMENTS_SHOWN:
            rest = ", ".join(target for target, _ in nodes[MAX_ELEMENTS_SHOWN:])
            problems.append(f"  … and {len(nodes) - MAX_ELEMENTS_SHOWN} more: {rest[:300]}")
    return problems


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
@pytest.mark.parametrize("state", PAGES, ids=lambda s: s.name)
def test_page_fits_the_window_and_has_no_wcag_violation(site_url, page_at, state, width):
    page = page_at(width)
    if state.reader:
        from django.conf import settings

        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": READER_SESSION["key"], "url": site_url}]
        )
    response = page.goto(f"{site_url}{state.path}", wait_until="networkidle")
    assert response.status == state.status
    if state.heading:
        expect(page.locator("h1")).to_contain_text(state.heading)
    if state.act:
        state.act(page)
    expect(page.locator(state.proof).first).to_be_attached()
    page.wait_for_function(SETTLED_JS)

    problems = layout_problems(page) + axe_problems(page)

    if problems:
        pytest.fail(f"{state.path} ({state.name}) at {width} px:\n" + "\n".join(problems), pytrace=False)


def test_the_width_check_names_what_makes_the_page_scroll_sideways(site_url, page_at):
    page = page_at(390)
    page.goto(f"{site_url}/tokens/")
    # Undo the card's own scrolling (through the CSSOM, which the CSP allows): the table now widens the page.
    page.locator(".results .table-scroll").evaluate("el => { el.style.overflowX = 'visible'; }")

    problems = layout_problems(page)

    assert problems[0].startswith("the page is ") and problems[0].endswith("in a 390 px window; sticking out:")
    assert "table.data.screener-table" in problems[1], problems
