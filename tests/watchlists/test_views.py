"""Watchlist pages and the star over HTTP: access (owner / other reader → 404 / anonymous →
login), CSRF, bad input, limits, totals, CSV and flat query counts."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Plan
from apps.watchlists.models import Watchlist, WatchlistItem
from apps.watchlists.services import watchlist_add, watchlist_create
from apps.watchlists.signals import PENDING_STAR_SESSION_KEY
from tests.factories import TokenFactory, UserFactory
from tests.watchlists.builders import priced_token, rate

LOGIN = resolve_url(settings.LOGIN_URL)  # a URL name since allauth

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def watchlist(owner):
    wl = watchlist_create(user=owner, name="Core")
    watchlist_add(user=owner, token=priced_token("alpha"), watchlist=wl)
    return wl


def login(client, user):
    client.force_login(user)
    return client


# --- Access: every view, owner / other reader / anonymous ---------------------------------

VIEWS = [
    ("get", "/watchlists/{pk}/", 200),
    ("get", "/watchlists/{pk}/export.csv", 200),
    ("get", "/watchlists/{pk}/delete/", 200),
    ("post", "/watchlists/{pk}/rename/", 302),
    ("post", "/watchlists/{pk}/delete/", 302),
    ("post", "/watchlists/{pk}/tokens/alpha/remove/", 302),
]


def _call(client, method, url):
    return getattr(client, method)(url, {"name": "Renamed"} if method == "post" else None)


@pytest.mark.parametrize(("method", "url", "status"), VIEWS)
def test_the_owner_can_use_every_view(client, owner, watchlist, method, url, status):
    response = _call(login(client, owner), method, url.format(pk=watchlist.pk))
    assert response.status_code == status


@pytest.mark.parametrize(("method", "url", "status"), VIEWS)
def test_another_reader_gets_404_and_changes_nothing(client, watchlist, method, url, status):
    response = _call(login(client, UserFactory()), method, url.format(pk=watchlist.pk))
    assert response.status_code == 404
    watchlist.refresh_from_db()
    assert watchlist.name == "Core" and watchlist.items.count() == 1


@pytest.mark.parametrize(("method", "url", "status"), VIEWS)
def test_an_anonymous_visitor_is_sent_to_log_in(client, watchlist, method, url, status):
    path = url.format(pk=watchlist.pk)
    response = _call(client, method, path)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={quote(path)}"
    assert Watchlist.objects.get(pk=watchlist.pk).items.count() == 1


@pytest.mark.parametrize("url", ["/watchlists/", "/watchlists/new/"])
def test_an_anonymous_visitor_is_sent_to_log_in_from_the_index_and_create(client, url):
    response = client.get(url) if url == "/watchlists/" else client.post(url, {"name": "x"})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not Watchlist.objects.exists()


def test_an_unknown_watchlist_id_is_404(client, owner):
    assert login(client, owner).get("/watchlists/999999/").status_code == 404


def test_the_index_lists_only_the_readers_own_lists(client, owner, watchlist):
    watchlist_create(user=UserFactory(), name="Someone else's")
    html = login(client, owner).get("/watchlists/").content.decode()
    assert "Core" in html and "Someone else" not in html


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/watchlists/star/alpha/", "/watchlists/new/", "/watchlists/{pk}/rename/", "/watchlists/{pk}/delete/"]
)
def test_an_htmx_post_without_the_csrf_token_is_refused(owner, watchlist, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(url.format(pk=watchlist.pk), {"name": "Renamed"}, headers=HTMX)
    assert response.status_code == 403
    assert Watchlist.objects.filter(user=owner).count() == 1
    assert Watchlist.objects.get(pk=watchlist.pk).name == "Core"
    assert WatchlistItem.objects.filter(watchlist=watchlist).count() == 1


def test_an_htmx_post_with_the_csrf_token_goes_through(owner):
    priced_token("alpha")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/tokens/alpha/")  # sets the CSRF cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post("/watchlists/star/alpha/", headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert WatchlistItem.objects.filter(watchlist__user=owner, token__slug="alpha").exists()


# --- The star ----------------------------------------------------------------------------


def test_a_plain_post_stars_the_token_and_returns_to_the_page(client, owner):
    priced_token("alpha")
    response = login(client, owner).post("/watchlists/star/alpha/", {"next": "/tokens/?q=al"})
    assert response.status_code == 302 and response["Location"] == "/tokens/?q=al"
    assert WatchlistItem.objects.filter(watchlist__user=owner, watchlist__is_default=True, token__slug="alpha").exists()


def test_a_foreign_next_is_replaced_by_the_token_page(client, owner):
    priced_token("alpha")
    response = login(client, owner).post("/watchlists/star/alpha/", {"next": "https://evil.example/"})
    assert response["Location"] == "/tokens/alpha/"


def test_an_htmx_star_swaps_the_button_pressed_then_unpressed(client, owner):
    priced_token("alpha")
    login(client, owner)
    on = client.post("/watchlists/star/alpha/", {"next": "/tokens/"}, headers=HTMX).content.decode()
    assert 'aria-pressed="true"' in on and 'aria-label="Remove ALPHA from watchlist"' in on
    assert "<html" not in on
    off = client.post("/watchlists/star/alpha/", {"next": "/tokens/"}, headers=HTMX).content.decode()
    assert 'aria-pressed="false"' in off and 'aria-label="Add ALPHA to watchlist"' in off
    assert not WatchlistItem.objects.exists()


def test_a_get_on_the_star_changes_nothing(client, owner):
    priced_token("alpha")
    assert login(client, owner).get("/watchlists/star/alpha/").status_code == 405
    assert not WatchlistItem.objects.exists()


def test_an_unknown_token_is_a_404_with_a_message_and_changes_nothing(client, owner):
    response = login(client, owner).post("/watchlists/star/no-such-token/", headers=HTMX)
    assert response.status_code == 404
    assert "There is no token “no-such-token” to add" in response.content.decode()
    assert not Watchlist.objects.exists()


def test_a_full_list_answers_the_star_with_the_limit_message(client, owner):
    Plan.objects.filter(slug="free").update(max_tokens_per_watchlist=1)
    watchlist_add(user=owner, token=TokenFactory())
    priced_token("alpha")
    login(client, owner)
    htmx = client.post("/watchlists/star/alpha/", {"next": "/tokens/"}, headers=HTMX)
    assert htmx.status_code == 422
    assert "Your Free plan allows 1 tokens a watchlist" in htmx.content.decode()
    assert 'aria-pressed="false"' in htmx.content.decode()
    plain = client.post("/watchlists/star/alpha/", {"next": "/tokens/"})
    assert plain.status_code == 422 and "Nothing was changed" in plain.content.decode()
    assert not WatchlistItem.objects.filter(token__slug="alpha").exists()


def test_an_anonymous_star_goes_to_log_in_and_the_token_is_added_on_login(client, owner):
    priced_token("alpha")
    response = client.post("/watchlists/star/alpha/", {"next": "/ratings/?category=lending"})
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={quote('/ratings/?category=lending')}"
    assert not WatchlistItem.objects.exists()  # nothing until they log in

    client.force_login(owner)

    assert WatchlistItem.objects.filter(watchlist__user=owner, token__slug="alpha").exists()
    assert PENDING_STAR_SESSION_KEY not in client.session  # added once, not again at the next login


def test_an_anonymous_htmx_star_redirects_the_whole_page_to_log_in(client):
    priced_token("alpha")
    response = client.post("/watchlists/star/alpha/", {"next": "/tokens/"}, headers=HTMX)
    assert response["HX-Redirect"] == f"{LOGIN}?next={quote('/tokens/')}"


def test_logging_in_without_a_pending_star_adds_nothing(client, owner):
    client.force_login(owner)
    assert not Watchlist.objects.exists()


# --- Stars on the pages, read in one query ---------------------------------------------------


def _queries(client, url) -> int:
    client.get(url)  # warms the minute-long caches (data status), so both counts are of a warm page
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/tokens/", "/ratings/"])
def test_stars_on_a_list_page_cost_the_same_queries_for_5_or_50_starred_rows(client, owner, url):
    tokens = [priced_token(f"tok-{n:02d}") for n in range(50)]
    login(client, owner)
    for token in tokens[:5]:
        watchlist_add(user=owner, token=token)
    few = _queries(client, url)
    html = client.get(url).content.decode()
    assert html.count('aria-pressed="true"') == 5 and html.count('aria-pressed="false"') == 45
    for token in tokens[5:]:
        watchlist_add(user=owner, token=token)
    assert _queries(client, url) == few
    assert client.get(url).content.decode().count('aria-pressed="true"') == 50


def test_only_the_default_lists_tokens_show_starred(client, owner):
    alpha, beta = priced_token("alpha"), priced_token("beta")
    watchlist_add(user=owner, token=alpha)
    watchlist_add(user=owner, token=beta, watchlist=watchlist_create(user=owner, name="Ideas"))
    html = login(client, owner).get("/tokens/").content.decode()
    assert 'aria-label="Remove ALPHA from watchlist"' in html and 'aria-label="Add BETA to watchlist"' in html


def test_the_token_page_shows_the_star(client, owner):
    watchlist_add(user=owner, token=priced_token("alpha"))
    html = login(client, owner).get("/tokens/alpha/").content.decode()
    assert 'aria-label="Remove ALPHA from watchlist"' in html
    assert 'name="next" value="/tokens/alpha/"' in html


def test_an_anonymous_reader_sees_unpressed_stars(client):
    priced_token("alpha")
    html = client.get("/tokens/").content.decode()
    assert 'aria-label="Add ALPHA to watchlist"' in html and 'aria-pressed="true"' not in html


# --- Lists: create, rename, delete -----------------------------------------------------------


def test_create_makes_a_list_and_opens_it(client, owner):
    response = login(client, owner).post("/watchlists/new/", {"name": "Ideas"})
    created = Watchlist.objects.get(user=owner)
    assert response.status_code == 302 and response["Location"] == f"/watchlists/{created.pk}/"


def test_create_beyond_the_limit_shows_the_message_and_creates_nothing(client, owner):
    for name in ("a", "b", "c"):
        watchlist_create(user=owner, name=name)
    response = login(client, owner).post("/watchlists/new/", {"name": "d"})
    assert response.status_code == 422
    assert "Your Free plan allows 3 watchlists." in response.content.decode()
    assert Watchlist.objects.filter(user=owner).count() == 3


def test_create_with_a_taken_name_shows_the_error(client, owner, watchlist):
    response = login(client, owner).post("/watchlists/new/", {"name": "core"})
    assert response.status_code == 422 and "already have a watchlist named" in response.content.decode()
    assert Watchlist.objects.filter(user=owner).count() == 1


def test_htmx_rename_swaps_the_title(client, owner, watchlist):
    response = login(client, owner).post(f"/watchlists/{watchlist.pk}/rename/", {"name": "Holdings"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="watchlist-title"' in html and "<h1>Holdings" in html
    assert "<html" not in html
    assert Watchlist.objects.get(pk=watchlist.pk).name == "Holdings"


def test_htmx_rename_to_a_taken_name_shows_the_error_and_keeps_the_name(client, owner, watchlist):
    watchlist_create(user=owner, name="Ideas")
    response = login(client, owner).post(f"/watchlists/{watchlist.pk}/rename/", {"name": "IDEAS"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422 and "already have a watchlist named" in html and "<h1>Core" in html
    assert Watchlist.objects.get(pk=watchlist.pk).name == "Core"


def test_plain_rename_with_a_blank_name_re_renders_the_page_with_the_error(client, owner, watchlist):
    response = login(client, owner).post(f"/watchlists/{watchlist.pk}/rename/", {"name": "  "})
    assert response.status_code == 422 and 'aria-invalid="true"' in response.content.decode()
    assert Watchlist.objects.get(pk=watchlist.pk).name == "Core"


def test_delete_asks_on_get_and_deletes_on_post(client, owner, watchlist):
    login(client, owner)
    assert "Delete “Core”?" in client.get(f"/watchlists/{watchlist.pk}/delete/").content.decode()
    assert Watchlist.objects.filter(pk=watchlist.pk).exists()
    response = client.post(f"/watchlists/{watchlist.pk}/delete/")
    assert response["Location"] == "/watchlists/"
    assert not Watchlist.objects.filter(pk=watchlist.pk).exists()


def test_remove_takes_the_token_off_that_list(client, owner, watchlist):
    login(client, owner).post(f"/watchlists/{watchlist.pk}/tokens/alpha/remove/")
    assert not watchlist.items.exists()


# --- The watchlist page --------------------------------------------------------------------


def test_the_page_shows_figures_changes_since_added_and_hand_computed_totals(client, owner):
    wl = watchlist_create(user=owner, name="Core")
    # price_at_add is the price when added; the snapshot then moves.
    a = priced_token("alpha", price="2", investor="B", trader="C", market_cap_usd=Decimal("1000"),
                     holders_revenue_annualised=Decimal("100"), ps=Decimal("10"))  # fmt: skip
    b = priced_token("beta", price="5", investor="C", trader="A", market_cap_usd=Decimal("3000"),
                     holders_revenue_annualised=Decimal("60"), ps=Decimal("30"))  # fmt: skip
    c = priced_token("gamma", price="1", investor=None, market_cap_usd=None,
                     holders_revenue_annualised=Decimal("50"), ps=None)  # fmt: skip
    for token in (a, b, c):
        watchlist_add(user=owner, token=token, watchlist=wl)
    a.latest_snapshot.price_usd = Decimal("3")  # +50 % since added
    a.latest_snapshot.save()
    rate(a, investor="A", trader="C")  # B → A
    rate(b, investor="C", trader="B")  # trader A → B

    response = login(client, owner).get(f"/watchlists/{wl.pk}/")
    page = response.context["page"]
    totals = page.totals
    assert totals.tokens == 3
    assert totals.median_ps == Decimal("20")  # median of 10 and 30; gamma has none
    assert totals.holder_yield == Decimal("160") / Decimal("4000")  # gamma has no market cap
    assert totals.holder_yield_count == 2
    assert (totals.rated_a_or_b, totals.share_a_or_b) == (1, Decimal(1) / 3)
    rows = {row.token.slug: row for row in page.rows}
    assert rows["alpha"].price_change == Decimal("0.5")
    assert rows["alpha"].investor_change == 1 and rows["beta"].trader_change == -1
    assert rows["gamma"].investor_change is None
    html = response.content.decode()
    assert 'data-total="holder-yield">4.0%' in html or 'data-total="holder-yield">4.00%' in html
    assert "B → A" in html and "(up 1 band)" in html and "(down 1 band)" in html
    assert "+50" in html


def test_a_watchlist_page_costs_the_same_queries_for_5_or_200_tokens(client, owner, django_assert_num_queries):
    Plan.objects.filter(slug="free").update(max_tokens_per_watchlist=500)
    wl = watchlist_create(user=owner, name="Core")
    tokens = [priced_token(f"tok-{n:03d}", investor="ABCDE"[n % 5]) for n in range(200)]
    for token in tokens[:5]:
        watchlist_add(user=owner, token=token, watchlist=wl)
    login(client, owner)
    few = _queries(client, f"/watchlists/{wl.pk}/")
    assert few <= 10  # session, user, list, items, ratings, as-of, plan, data status
    for token in tokens[5:]:
        watchlist_add(user=owner, token=token, watchlist=wl)
    client.get(f"/watchlists/{wl.pk}/")
    with django_assert_num_queries(few):
        response = client.get(f"/watchlists/{wl.pk}/")
    assert response.content.decode().count("<tr data-token=") == 200


def test_csv_lists_the_tokens_and_escapes_formulas(client, owner):
    wl = watchlist_create(user=owner, name="Core")
    evil = priced_token("evil", price="2", investor="B")
    evil.name = '=HYPERLINK("https://evil.example")'
    evil.symbol = "@sum"
    evil.save()
    watchlist_add(user=owner, token=evil, watchlist=wl)
    watchlist_add(user=owner, token=priced_token("plain", price="4", investor=None), watchlist=wl)
    evil.latest_snapshot.price_usd = Decimal("1")
    evil.latest_snapshot.save()

    response = login(client, owner).get(f"/watchlists/{wl.pk}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="watchlist-{wl.pk}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["slug"] for r in rows] == ["evil", "plain"]  # by name: "=…" sorts before "Plain"
    assert rows[0]["name"] == '\'=HYPERLINK("https://evil.example")'
    assert rows[0]["symbol"] == "'@SUM"
    assert Decimal(rows[0]["price_change_since_added"]) == Decimal("-0.5")  # a number stays a number
    assert (rows[0]["investor_grade"], rows[0]["investor_grade_at_add"]) == ("B", "B")
    assert rows[1]["name"] == "Plain" and rows[1]["investor_grade"] == ""
    assert Decimal(rows[1]["price_usd"]) == Decimal("4")
