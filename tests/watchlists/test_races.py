"""An object deleted between a view's fetch and its service (the reader deletes it in another
tab): each race reproduced by a selector that fetches the row, then deletes it. A change
answers the not-found page saying so (htmx: the message as a fragment it swaps), a delete
finds it gone as asked; nothing is changed and nothing is a 500."""

from __future__ import annotations

import pytest

from apps.accounts.models import Plan
from apps.watchlists import alert_selectors, selectors, services, webhook_selectors, webhooks
from apps.watchlists.models import AlertRule, Notification, Watchlist, WatchlistItem, Webhook, WebhookDelivery
from apps.watchlists.services import watchlist_add, watchlist_create
from tests.factories import UserFactory
from tests.watchlists.alert_builders import rule, token_with_history
from tests.watchlists.builders import priced_token

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
URL = "http://127.0.0.1:9/hook"  # never posted to


def deleted_after_fetch(monkeypatch, module, name: str) -> None:
    """``module.name`` still returns the reader's object, but its row is gone by the time
    the view calls the service."""
    fetch = getattr(module, name)

    def fetch_then_delete(**kwargs):
        obj = fetch(**kwargs)
        type(obj).objects.filter(pk=obj.pk).delete()
        return obj

    monkeypatch.setattr(module, name, fetch_then_delete)


def assert_says_deleted(response, what: str) -> None:
    assert response.status_code == 404
    assert "watchlists/not_found.html" in [t.name for t in response.templates]
    assert f"This {what} was deleted, perhaps in another tab. Nothing was changed." in response.content.decode()


def assert_htmx_says_deleted(response, what: str, tag: str) -> None:
    assert response.status_code == 422  # a status htmx swaps (base.html's responseHandling)
    html = response.content.decode()
    assert html.startswith(f"<{tag}") and 'role="alert"' in html
    assert f"This {what} was deleted, perhaps in another tab." in html


@pytest.fixture
def owner():
    return UserFactory(plan=Plan.objects.get(slug="pro"))


@pytest.fixture
def reader(client, owner):
    client.force_login(owner)
    return client


# --- Watchlists ----------------------------------------------------------------------------


@pytest.fixture
def watchlist(owner):
    wl = watchlist_create(user=owner, name="Core")
    watchlist_add(user=owner, token=priced_token("alpha"), watchlist=wl)
    return wl


@pytest.fixture
def gone_watchlist(monkeypatch):
    deleted_after_fetch(monkeypatch, selectors, "watchlist_for_user")


def test_renaming_a_list_deleted_meanwhile_says_so_and_changes_nothing(reader, watchlist, gone_watchlist):
    response = reader.post(f"/watchlists/{watchlist.pk}/rename/", {"name": "Renamed"})
    assert_says_deleted(response, "watchlist")
    assert not Watchlist.objects.exists()


def test_an_htmx_rename_of_a_list_deleted_meanwhile_swaps_in_the_message(reader, watchlist, gone_watchlist):
    response = reader.post(f"/watchlists/{watchlist.pk}/rename/", {"name": "Renamed"}, headers=HTMX)
    assert_htmx_says_deleted(response, "watchlist", "div")
    assert not Watchlist.objects.exists()


def test_removing_a_token_from_a_list_deleted_meanwhile_says_so(reader, watchlist, gone_watchlist):
    response = reader.post(f"/watchlists/{watchlist.pk}/tokens/alpha/remove/")
    assert_says_deleted(response, "watchlist")
    assert not WatchlistItem.objects.exists()


def test_deleting_a_list_deleted_meanwhile_lands_on_the_lists_and_leaves_the_others(
    monkeypatch, reader, owner, watchlist
):
    watchlist_create(user=owner, name="Other")
    fetch = selectors.watchlist_for_user

    def fetch_then_delete_in_another_tab(**kwargs):
        found = fetch(**kwargs)
        services.watchlist_delete(watchlist=fetch(**kwargs))  # "Other" becomes the default
        return found

    monkeypatch.setattr(selectors, "watchlist_for_user", fetch_then_delete_in_another_tab)
    response = reader.post(f"/watchlists/{watchlist.pk}/delete/")
    assert response.status_code == 302 and response.url == "/watchlists/"
    assert list(Watchlist.objects.values_list("name", "is_default")) == [("Other", True)]


# --- Alert rules and notifications -------------------------------------------------------


@pytest.fixture
def token():
    return token_with_history("alpha")


@pytest.fixture
def alert(owner, token):
    return rule(owner, token=token, kind="investor_band")


@pytest.fixture
def gone_rule(monkeypatch):
    deleted_after_fetch(monkeypatch, alert_selectors, "rule_for_user")


def test_pausing_a_rule_deleted_meanwhile_says_so_and_changes_nothing(reader, alert, gone_rule):
    response = reader.post(f"/alerts/{alert.pk}/toggle/")
    assert_says_deleted(response, "alert rule")
    assert not AlertRule.objects.exists()


def test_an_htmx_pause_of_a_rule_deleted_meanwhile_swaps_its_row_for_the_message(reader, alert, gone_rule):
    response = reader.post(f"/alerts/{alert.pk}/toggle/", headers=HTMX)
    assert_htmx_says_deleted(response, "alert rule", "tr")
    assert not AlertRule.objects.exists()


def test_pausing_a_rule_whose_watchlist_was_deleted_meanwhile_says_so(monkeypatch, reader, owner, watchlist):
    on_list = rule(owner, watchlist=watchlist, kind="investor_band")
    fetch = alert_selectors.rule_for_user

    def fetch_then_delete_the_list(**kwargs):
        found = fetch(**kwargs)
        Watchlist.objects.filter(pk=found.watchlist_id).delete()  # its rules go with it
        return found

    monkeypatch.setattr(alert_selectors, "rule_for_user", fetch_then_delete_the_list)
    assert_says_deleted(reader.post(f"/alerts/{on_list.pk}/toggle/"), "alert rule")
    assert not AlertRule.objects.exists()


def test_a_pause_still_works_when_nothing_was_deleted(reader, alert):
    response = reader.post(f"/alerts/{alert.pk}/toggle/", headers=HTMX)
    assert response.status_code == 200 and "Resume" in response.content.decode()
    alert.refresh_from_db()
    assert alert.is_active is False


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_deleting_a_rule_deleted_meanwhile_finds_it_gone_as_asked(reader, alert, gone_rule, headers):
    response = reader.post(f"/alerts/{alert.pk}/delete/", headers=headers)
    assert response.status_code == (200 if headers else 302)
    assert not AlertRule.objects.exists()


@pytest.fixture
def notification(owner, alert, token):
    return Notification.objects.create(user=owner, rule=alert, token=token, event_key="k", message="ALPHA: moved")


@pytest.fixture
def gone_notification(monkeypatch):
    deleted_after_fetch(monkeypatch, alert_selectors, "notification_for_user")


def test_marking_read_a_notification_deleted_meanwhile_says_so(reader, notification, gone_notification):
    assert_says_deleted(reader.post(f"/notifications/{notification.pk}/read/"), "notification")
    assert not Notification.objects.exists()


def test_an_htmx_mark_read_of_a_notification_deleted_meanwhile_swaps_in_the_message(
    reader, notification, gone_notification
):
    response = reader.post(f"/notifications/{notification.pk}/read/", headers=HTMX)
    assert_htmx_says_deleted(response, "notification", "li")


def test_marking_read_keeps_the_first_read_time(notification):
    from apps.watchlists import alerts

    first = alerts.notification_mark_read(notification=Notification.objects.get(pk=notification.pk)).read_at
    stale = Notification.objects.get(pk=notification.pk)
    stale.read_at = None  # as fetched by another tab before the first read
    alerts.notification_mark_read(notification=stale)
    assert Notification.objects.get(pk=notification.pk).read_at == first


# --- Webhooks ------------------------------------------------------------------------------


@pytest.fixture
def webhook(owner):
    return webhooks.webhook_create(user=owner, url=URL)


@pytest.fixture
def gone_webhook(monkeypatch):
    deleted_after_fetch(monkeypatch, webhook_selectors, "webhook_for_user")


@pytest.mark.parametrize("action", ["rotate", "test", "resume"])
def test_changing_a_webhook_deleted_meanwhile_says_so_and_queues_nothing(reader, webhook, gone_webhook, action):
    response = reader.post(f"/webhooks/{webhook.pk}/{action}/")
    assert_says_deleted(response, "webhook")
    assert not Webhook.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_deleting_a_webhook_deleted_meanwhile_finds_it_gone_as_asked(reader, webhook, gone_webhook, headers):
    response = reader.post(f"/webhooks/{webhook.pk}/delete/", headers=headers)
    assert response.status_code == (200 if headers else 302)
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "service", [webhooks.webhook_rotate_secret, webhooks.webhook_resume, webhooks.webhook_send_test]
)
def test_a_webhook_service_refuses_a_webhook_deleted_meanwhile(webhook, service):
    Webhook.objects.filter(pk=webhook.pk).delete()
    with pytest.raises(Webhook.DoesNotExist):
        service(webhook=webhook)
    assert not WebhookDelivery.objects.exists()
