"""Alert and notification pages over HTTP: access for every view (owner / other reader → 404 /
anonymous → login), CSRF on htmx posts, bad input changing nothing, the badge, the token
page's link, flat query counts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Plan
from apps.watchlists.models import AlertRule, Notification
from apps.watchlists.services import watchlist_add, watchlist_create
from tests.factories import UserFactory
from tests.watchlists.alert_builders import rule, token_with_history

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def token():
    return token_with_history("alpha")


@pytest.fixture
def alert(owner, token):
    return rule(owner, token=token, kind="investor_band")


@pytest.fixture
def notification(owner, alert, token):
    return Notification.objects.create(user=owner, rule=alert, token=token, event_key="k", message="ALPHA: moved")


def login(client, user):
    client.force_login(user)
    return client


# --- Access ------------------------------------------------------------------------------

OBJECT_VIEWS = [
    ("post", "/alerts/{rule}/toggle/", 302),
    ("post", "/alerts/{rule}/delete/", 302),
    ("post", "/notifications/{note}/read/", 302),
]
LIST_VIEWS = [
    ("get", "/alerts/", 200),
    ("get", "/notifications/", 200),
    ("get", "/notifications/badge/", 200),
    ("post", "/notifications/read-all/", 302),
]


def _url(url, alert, notification):
    return url.format(rule=alert.pk, note=notification.pk)


def _state(alert, notification):
    alert.refresh_from_db()
    notification.refresh_from_db()
    return alert.is_active, notification.read_at


@pytest.mark.parametrize(("method", "url", "status"), OBJECT_VIEWS + LIST_VIEWS)
def test_the_owner_can_use_every_view(client, owner, alert, notification, method, url, status):
    response = getattr(login(client, owner), method)(_url(url, alert, notification))
    assert response.status_code == status


@pytest.mark.parametrize(("method", "url", "status"), OBJECT_VIEWS)
def test_another_reader_gets_404_and_changes_nothing(client, alert, notification, method, url, status):
    before = _state(alert, notification)
    response = getattr(login(client, UserFactory()), method)(_url(url, alert, notification))
    assert response.status_code == 404
    assert AlertRule.objects.filter(pk=alert.pk).exists()
    assert _state(alert, notification) == before


def test_another_reader_sees_none_of_the_owners_rules_or_notifications(client, alert, notification):
    client = login(client, UserFactory())
    assert "investor grade" not in client.get("/alerts/").content.decode()
    assert "ALPHA: moved" not in client.get("/notifications/").content.decode()
    client.post("/notifications/read-all/")
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize(("method", "url", "status"), OBJECT_VIEWS + LIST_VIEWS + [("post", "/alerts/new/", 0)])
def test_an_anonymous_visitor_is_sent_to_log_in(client, alert, notification, method, url, status):
    before = _state(alert, notification)
    response = getattr(client, method)(_url(url, alert, notification))
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    assert _state(alert, notification) == before


@pytest.mark.parametrize("url", ["/alerts/{rule}/toggle/", "/alerts/{rule}/delete/", "/notifications/{note}/read/"])
def test_an_htmx_post_without_the_csrf_token_is_refused(owner, alert, notification, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = _state(alert, notification)
    response = client.post(_url(url, alert, notification), headers=HTMX)
    assert response.status_code == 403
    assert _state(alert, notification) == before


def test_creating_a_rule_without_the_csrf_token_is_refused(owner, token):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/alerts/new/", {"token": "alpha", "kind": "investor_band"}, headers=HTMX)
    assert response.status_code == 403
    assert not AlertRule.objects.exists()


def test_an_htmx_post_with_the_csrf_token_goes_through(owner, alert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/alerts/")
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(f"/alerts/{alert.pk}/toggle/", headers={**HTMX, "X-CSRFToken": csrf})
    assert response.status_code == 200
    assert "Resume" in response.content.decode()
    alert.refresh_from_db()
    assert alert.is_active is False


# --- Creating rules ----------------------------------------------------------------------


def test_a_reader_creates_a_rule_on_a_token(client, owner, token):
    response = login(client, owner).post(
        "/alerts/new/",
        {"token": "alpha", "kind": "price_move", "threshold": "12.5", "direction": "down", "delivery": "digest"},
    )
    assert response.status_code == 302
    created = AlertRule.objects.get(user=owner)
    assert (created.token, created.threshold, created.direction, created.delivery) == (
        token,
        Decimal("12.5"),
        "down",
        "digest",
    )
    assert "price moves 12.5%+ in 24 h (down)" in client.get("/alerts/").content.decode()


def test_a_reader_creates_a_rule_on_their_watchlist(client, owner, token):
    watchlist = watchlist_create(user=owner, name="Core")
    watchlist_add(user=owner, token=token, watchlist=watchlist)
    response = login(client, owner).post(
        "/alerts/new/", {"watchlist": str(watchlist.pk), "kind": "investor_band", "delivery": "in_app"}
    )
    assert response.status_code == 302
    assert AlertRule.objects.get(user=owner).watchlist == watchlist


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"token": "alpha", "kind": "price_move", "threshold": "abc"}, "Enter a number."),
        ({"token": "alpha", "kind": "price_move", "threshold": "-5"}, "The threshold must be greater than 0."),
        ({"token": "alpha", "kind": "ps_cross", "threshold": "0"}, "The threshold must be greater than 0."),
        ({"token": "alpha", "kind": "price_move", "threshold": ""}, "This kind of alert needs a threshold."),
        ({"token": "nope", "kind": "investor_band"}, "There is no token “nope”"),
        ({"kind": "investor_band"}, "Choose either a token or one of your watchlists"),
        ({"token": "alpha", "kind": "moon"}, "Select a valid choice"),
    ],
)
def test_bad_input_gives_a_clear_error_and_changes_nothing(client, owner, token, post, message):
    response = login(client, owner).post("/alerts/new/", {"direction": "any", "delivery": "in_app", **post})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not AlertRule.objects.exists()


def test_another_readers_watchlist_id_is_a_form_error(client, owner, token):
    theirs = watchlist_create(user=UserFactory(), name="Theirs")
    response = login(client, owner).post(
        "/alerts/new/", {"watchlist": str(theirs.pk), "kind": "investor_band", "direction": "any", "delivery": "in_app"}
    )
    assert response.status_code == 422
    assert "That watchlist is not one of yours." in response.content.decode()
    assert not AlertRule.objects.exists()


def test_the_plan_limit_is_shown_on_the_form(client, owner, token):
    Plan.objects.filter(slug="free").update(max_alert_rules=1)
    rule(owner, token=token, kind="investor_band")
    response = login(client, owner).post(
        "/alerts/new/", {"token": "alpha", "kind": "trader_band", "direction": "any", "delivery": "in_app"}
    )
    assert response.status_code == 422
    assert "Your Free plan allows 1 alert rule." in response.content.decode()
    assert AlertRule.objects.count() == 1


def test_the_token_page_links_to_a_prefilled_alert_form(client, owner, token):
    page = login(client, owner).get("/tokens/alpha/").content.decode()
    assert 'href="/alerts/?token=alpha"' in page
    assert 'value="alpha"' in client.get("/alerts/?token=alpha").content.decode()


# --- Deleting, pausing, reading ------------------------------------------------------------


def test_delete_and_pause_change_only_that_rule(client, owner, token, alert):
    kept = rule(owner, token=token, kind="trader_band")
    client = login(client, owner)
    client.post(f"/alerts/{kept.pk}/toggle/")
    client.post(f"/alerts/{alert.pk}/delete/")
    assert list(AlertRule.objects.values_list("pk", "is_active")) == [(kept.pk, False)]


def test_reading_notifications_updates_the_badge(client, owner, alert, token, notification):
    Notification.objects.create(user=owner, rule=alert, token=token, event_key="k2", message="ALPHA: again")
    Notification.objects.create(user=UserFactory(), token=token, event_key="k3", message="not theirs")
    client = login(client, owner)
    assert 'aria-label="2 unread"' in client.get("/notifications/badge/").content.decode()
    response = client.post(f"/notifications/{notification.pk}/read/", headers=HTMX)
    assert response["HX-Trigger"] == "notifications-changed"
    assert 'aria-label="1 unread"' in client.get("/notifications/badge/").content.decode()
    client.post("/notifications/read-all/")
    assert "unread" not in client.get("/notifications/badge/").content.decode().replace("unread-badge", "")


def test_the_header_loads_the_badge_for_a_logged_in_reader_only(client, owner):
    assert "/notifications/badge/" not in client.get("/").content.decode()
    assert 'hx-get="/notifications/badge/"' in login(client, owner).get("/").content.decode()


# --- Flat query counts ---------------------------------------------------------------------


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/alerts/", "/notifications/"])
def test_list_pages_query_count_is_flat(client, owner, url):
    client = login(client, owner)
    tokens = [token_with_history(f"t{i}") for i in range(6)]
    watchlist = watchlist_create(user=owner, name="Core")
    rule(owner, token=tokens[0], kind="investor_band")
    rule(owner, watchlist=watchlist, kind="investor_band")
    Notification.objects.create(user=owner, token=tokens[0], event_key="a", message="m")
    client.get(url)  # the first request of a session fills caches the others read
    few = _count_queries(client, url)
    for i, t in enumerate(tokens[1:]):
        rule(owner, token=t, kind="price_move", threshold=5)
        rule(owner, watchlist=watchlist, kind="ps_cross", threshold=i + 1)
        Notification.objects.create(user=owner, token=t, event_key=f"b{i}", message="m")
    assert _count_queries(client, url) == few
