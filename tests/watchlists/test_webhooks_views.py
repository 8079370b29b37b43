"""Webhook pages over HTTP: access for every view (owner / other reader → 404 / anonymous →
login), CSRF on htmx posts, bad URLs refused without connecting and without writing, the
Free plan's limit, and flat query counts."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Plan
from apps.watchlists import webhooks
from apps.watchlists.models import Webhook, WebhookDelivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
URL = "http://127.0.0.1:9/hook"  # never posted to: these tests queue, they do not send


@pytest.fixture
def owner():
    return UserFactory(plan=Plan.objects.get(slug="pro"))


@pytest.fixture
def webhook(owner):
    return webhooks.webhook_create(user=owner, url=URL)


def _state(webhook):
    rows = Webhook.objects.filter(pk=webhook.pk).values_list("secret", "is_active", "paused_at")
    return list(rows), WebhookDelivery.objects.count()


OBJECT_VIEWS = [
    ("get", "/webhooks/{pk}/", 200),
    ("post", "/webhooks/{pk}/rotate/", 302),
    ("post", "/webhooks/{pk}/test/", 302),
    ("post", "/webhooks/{pk}/resume/", 302),
    ("post", "/webhooks/{pk}/delete/", 302),
]


@pytest.mark.parametrize(("method", "url", "status"), [*OBJECT_VIEWS, ("get", "/webhooks/", 200)])
def test_the_owner_can_use_every_view(client, owner, webhook, method, url, status):
    client.force_login(owner)
    response = getattr(client, method)(url.format(pk=webhook.pk))
    assert response.status_code == status


@pytest.mark.parametrize(("method", "url", "status"), OBJECT_VIEWS)
def test_another_reader_gets_404_and_changes_nothing(client, webhook, method, url, status):
    before = _state(webhook)
    client.force_login(UserFactory(plan=Plan.objects.get(slug="pro")))
    response = getattr(client, method)(url.format(pk=webhook.pk))
    assert response.status_code == 404
    assert _state(webhook) == before


def test_another_reader_does_not_see_the_owners_webhooks(client, webhook):
    client.force_login(UserFactory(plan=Plan.objects.get(slug="pro")))
    assert URL not in client.get("/webhooks/").content.decode()


@pytest.mark.parametrize(
    ("method", "url", "status"), [*OBJECT_VIEWS, ("get", "/webhooks/", 0), ("post", "/webhooks/new/", 0)]
)
def test_an_anonymous_visitor_is_sent_to_log_in(client, webhook, method, url, status):
    before = _state(webhook)
    response = getattr(client, method)(url.format(pk=webhook.pk), {"url": URL} if url.endswith("new/") else None)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    assert _state(webhook) == before
    assert Webhook.objects.count() == 1


@pytest.mark.parametrize("url", ["/webhooks/{pk}/rotate/", "/webhooks/{pk}/test/", "/webhooks/{pk}/delete/"])
def test_an_htmx_post_without_the_csrf_token_is_refused(owner, webhook, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = _state(webhook)
    response = client.post(url.format(pk=webhook.pk), headers=HTMX)
    assert response.status_code == 403
    assert _state(webhook) == before


def test_creating_a_webhook_without_the_csrf_token_is_refused(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/webhooks/new/", {"url": URL}, headers=HTMX).status_code == 403
    assert not Webhook.objects.exists()


def test_an_htmx_delete_with_the_csrf_token_goes_through(owner, webhook):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/webhooks/")
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(f"/webhooks/{webhook.pk}/delete/", headers={**HTMX, "X-CSRFToken": csrf})
    assert response.status_code == 200 and response.content == b""
    assert not Webhook.objects.exists()


# --- Creating, rotating, testing, resuming -----------------------------------------------


def test_a_pro_reader_adds_a_webhook_and_sees_its_secret(client, owner):
    client.force_login(owner)
    response = client.post("/webhooks/new/", {"url": URL})
    created = Webhook.objects.get(user=owner)
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{created.pk}/"
    assert len(created.secret) >= 40
    assert created.secret in client.get(response["Location"]).content.decode()


def test_the_rotate_button_makes_a_new_secret_and_keeps_the_old_one_for_a_day(client, owner, webhook):
    old = webhook.secret
    client.force_login(owner)
    client.post(f"/webhooks/{webhook.pk}/rotate/")
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.previous_secret == old
    assert webhook.previous_secret_expires_at is not None
    assert "previous one stays valid for 24 hours" in client.get(f"/webhooks/{webhook.pk}/").content.decode()


def test_the_send_test_button_queues_a_test_delivery_shown_in_the_log(client, owner, webhook):
    client.force_login(owner)
    client.post(f"/webhooks/{webhook.pk}/test/")
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.event, delivery.status) == ("webhook.test", "pending")
    page = client.get(f"/webhooks/{webhook.pk}/").content.decode()
    assert f'data-delivery="{delivery.pk}"' in page and "webhook.test" in page


def test_a_paused_webhook_shows_a_banner_and_resumes(client, owner, webhook):
    Webhook.objects.filter(pk=webhook.pk).update(
        is_active=False, paused_at="2026-12-05T10:00Z", consecutive_failures=12
    )
    client.force_login(owner)
    assert f'data-paused="{webhook.pk}"' in client.get("/webhooks/").content.decode()
    client.post(f"/webhooks/{webhook.pk}/resume/")
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.paused_at, webhook.consecutive_failures) == (True, None, 0)


# --- Bad input ----------------------------------------------------------------------------


def _no_connect(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("connected")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _resolves_to(monkeypatch, ip):
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(family, socket.SOCK_STREAM, 6, "", (ip, 443))])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "must start with https://"),
        ("http://hooks.example.com/x", "must start with https://"),
        ("", "Give the webhook"),
        ("https://", "has no host"),
        ("https://user:pw@hooks.example.com/", "cannot carry a user name"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
    ],
)
def test_a_bad_url_in_production_gives_a_clear_error_and_writes_nothing(
    client, owner, settings, monkeypatch, url, message
):
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False
    _no_connect(monkeypatch)
    _resolves_to(monkeypatch, "93.184.215.14")
    client.force_login(owner)
    response = client.post("/webhooks/new/", {"url": url})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "127.0.0.1", "169.254.169.254", "192.168.1.5", "0.0.0.0", "224.0.0.1", "::1", "::ffff:10.0.0.1"]
)
def test_a_host_resolving_to_a_private_address_is_refused_in_production_without_connecting(
    client, owner, settings, monkeypatch, ip
):
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False
    _no_connect(monkeypatch)
    _resolves_to(monkeypatch, ip)
    client.force_login(owner)
    response = client.post("/webhooks/new/", {"url": "https://hooks.example.com/accrual"})
    assert response.status_code == 422
    assert "private or reserved address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_host_resolving_to_a_public_address_is_accepted_in_production(client, owner, settings, monkeypatch):
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False
    _no_connect(monkeypatch)
    _resolves_to(monkeypatch, "93.184.215.14")
    client.force_login(owner)
    assert client.post("/webhooks/new/", {"url": "https://hooks.example.com/accrual"}).status_code == 302
    assert Webhook.objects.filter(user=owner, url="https://hooks.example.com/accrual").exists()


def test_an_unresolvable_host_is_refused(client, owner, settings, monkeypatch):
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False

    def fail(*args, **kwargs):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    client.force_login(owner)
    response = client.post("/webhooks/new/", {"url": "https://nowhere.invalid/x"})
    assert response.status_code == 422
    assert "could not be resolved" in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_free_plan_allows_no_webhook_and_points_at_the_upgrade(client):
    free = UserFactory()
    client.force_login(free)
    plan = Plan.objects.get(slug="free")
    assert plan.max_webhooks == 0
    page = client.get("/webhooks/").content.decode()
    assert "no webhooks" in page
    response = client.post("/webhooks/new/", {"url": URL})
    assert response.status_code == 422
    assert "Your Free plan allows no webhooks." in response.content.decode()
    if plan.how_to_upgrade:
        assert plan.how_to_upgrade in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_pro_plan_limit_is_enforced(client, owner):
    client.force_login(owner)
    for _ in range(5):
        assert client.post("/webhooks/new/", {"url": URL}).status_code == 302
    response = client.post("/webhooks/new/", {"url": URL})
    assert response.status_code == 422
    assert "Your Pro plan allows 5 webhooks." in response.content.decode()
    assert Webhook.objects.count() == 5


# --- Query counts ------------------------------------------------------------------------


def _queries(client, url) -> int:
    client.get(url)  # warms the site-wide caches (the data's as-of time)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_list_page_query_count_is_flat(client, owner):
    client.force_login(owner)
    webhooks.webhook_create(user=owner, url=URL)
    one = _queries(client, "/webhooks/")
    for _ in range(4):
        webhooks.webhook_create(user=owner, url=URL)
    assert _queries(client, "/webhooks/") == one


def test_the_delivery_log_query_count_is_flat(client, owner, webhook):
    client.force_login(owner)
    webhooks.webhook_send_test(webhook=webhook)
    one = _queries(client, f"/webhooks/{webhook.pk}/")
    for _ in range(10):
        webhooks.webhook_send_test(webhook=webhook)
    assert _queries(client, f"/webhooks/{webhook.pk}/") == one
