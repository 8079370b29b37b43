"""Webhook deliveries against a real receiver on 127.0.0.1 that checks the signature and
timestamp: delivered once, retried after failure and delivered exactly once, paused after
repeated failure with one email, test events, secret rotation, the address check at send
time, and the beat entry."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import httpx
import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from apps.accounts.models import Plan
from apps.watchlists import tasks, webhooks
from apps.watchlists.models import Notification, Webhook, WebhookDelivery
from tests.factories import UserFactory
from tests.watchlists.alert_builders import DAY, band_change, rule, token_with_history
from tests.watchlists.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def pro():
    return UserFactory(plan=Plan.objects.get(slug="pro"))


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def webhook(pro, receiver):
    hook = webhooks.webhook_create(user=pro, url=receiver.url)
    receiver.secret = hook.secret
    return hook


@pytest.fixture
def notification(pro):
    token = token_with_history("alpha")
    alert = rule(pro, token=token, kind="investor_band")
    return Notification.objects.create(
        user=pro, rule=alert, token=token, event_key="k1", message="ALPHA: investor grade B → A", data={"after": "A"}
    )


def _make_due(**filters) -> None:
    """Moves every pending retry to now: the fake clock's "a while later"."""
    WebhookDelivery.objects.filter(status="pending", **filters).update(next_attempt_at=timezone.now())


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# --- Signature -----------------------------------------------------------------------------


def test_the_signature_verifies_with_the_documented_recipe_and_rejects_tampering_and_old_timestamps():
    body = b'{"id":"ntf_1"}'
    header = webhooks.signature_header(
        webhook=Webhook(secret="s3cret"), timestamp=int(time.time()), body=body, now=timezone.now()
    )
    assert verify(header, body, "s3cret")
    assert not verify(header, body + b" ", "s3cret")
    assert not verify(header, body, "other")
    old = int(time.time()) - 301
    stale = webhooks.signature_header(webhook=Webhook(secret="s3cret"), timestamp=old, body=body, now=timezone.now())
    assert not verify(stale, body, "s3cret")


# --- Delivery --------------------------------------------------------------------------------


def test_a_notification_is_delivered_once_with_a_signed_json_body(webhook, notification, receiver):
    assert webhooks.webhooks_enqueue() == 1
    assert webhooks.webhooks_enqueue() == 0  # a re-run queues nothing twice
    assert webhooks.webhooks_send_due() == 1
    assert webhooks.webhooks_send_due() == 0
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]
    body = receiver.accepted[0]
    assert body["type"] == "alert.fired"
    assert body["id"] == f"ntf_{notification.pk}"
    assert body["token"] == {"slug": "alpha", "symbol": "ALPHA"}
    assert body["message"] == "ALPHA: investor grade B → A"
    assert body["data"] == {"after": "A"}
    delivery = WebhookDelivery.objects.get()
    assert receiver.requests[0]["headers"]["Accrual-Delivery"] == str(delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None


def test_notifications_from_before_the_webhook_was_added_are_not_sent(pro, notification, receiver):
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    webhooks.webhook_create(user=pro, url=receiver.url)
    assert webhooks.webhooks_enqueue() == 0


def test_another_readers_notifications_never_reach_the_webhook(webhook, receiver):
    other = UserFactory()
    token = token_with_history("beta")
    Notification.objects.create(
        user=other, rule=rule(other, token=token, kind="investor_band"), token=token, event_key="x", message="BETA"
    )
    assert webhooks.webhooks_enqueue() == 0


def test_a_receiver_answering_500_is_retried_with_backoff_and_delivered_exactly_once(webhook, notification, receiver):
    receiver.status = 500
    webhooks.webhooks_enqueue()
    before = timezone.now()
    assert webhooks.webhooks_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    # The first retry waits 3 minutes ± 10 %; nothing is sent before then.
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 160 <= wait <= 200
    assert webhooks.webhooks_send_due() == 0 and len(receiver.requests) == 1
    receiver.status = 204
    _make_due()
    assert webhooks.webhooks_send_due() == 1
    _make_due()
    assert webhooks.webhooks_send_due() == 0
    assert len(receiver.accepted) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 204)
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0


def test_a_receiver_that_is_down_then_back_gets_the_delivery_exactly_once(pro, notification, receiver):
    hook = webhooks.webhook_create(user=pro, url=_closed_port_url())
    receiver.secret = hook.secret
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now())  # fired after the hook
    webhooks.webhooks_enqueue()
    assert webhooks.webhooks_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("Could not connect")
    Webhook.objects.filter(pk=hook.pk).update(url=receiver.url)  # the endpoint comes back
    _make_due()
    assert webhooks.webhooks_send_due() == 1
    _make_due()
    assert webhooks.webhooks_send_due() == 0
    assert len(receiver.accepted) == 1


def test_the_backoff_schedule_spans_about_a_day():
    waits = [webhooks.backoff(n) for n in range(1, webhooks.MAX_ATTEMPTS)]
    assert [w.total_seconds() / 60 for w in waits] == [3, 6, 12, 24, 48, 96, 192, 384, 480]
    assert dt.timedelta(hours=18) < sum(waits, dt.timedelta()) < dt.timedelta(hours=26)


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(webhook, notification, receiver):
    webhooks.webhooks_enqueue()
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert webhooks._claim(delivery, now) is True
    assert webhooks._claim(delivery, now) is False  # same row, read before the first claim
    assert webhooks.webhooks_send_due() == 0  # leased: not due
    assert receiver.requests == []


def test_a_delivery_read_before_its_endpoint_was_paused_is_not_claimed(webhook, notification, receiver):
    """A run's batch is read first; a pause during the run stops the endpoint's other posts."""
    webhooks.webhooks_enqueue()
    delivery = WebhookDelivery.objects.get()
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False, paused_at=timezone.now())
    assert webhooks._claim(delivery, timezone.now()) is False
    assert receiver.requests == []


def test_repeated_failure_pauses_the_endpoint_and_emails_its_owner_once(webhook, notification, receiver, pro):
    receiver.status = 503
    webhooks.webhooks_enqueue()
    for _ in range(webhooks.MAX_ATTEMPTS):
        _make_due()
        webhooks.webhooks_send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS
    webhook.refresh_from_db()
    assert webhook.is_active is False and webhook.paused_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [pro.email]
    assert f"/webhooks/{webhook.pk}/" in mail.outbox[0].body
    # Paused: a test event waits, and no second email goes out.
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 0
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS and len(mail.outbox) == 1
    # Resumed and fixed: the waiting test event goes through.
    receiver.status = 200
    webhooks.webhook_resume(webhook=webhook)
    assert webhooks.webhooks_send_due() == 1
    assert receiver.accepted[0]["type"] == "webhook.test"


def test_a_success_in_between_keeps_the_endpoint_active(webhook, notification, receiver):
    receiver.status = 500
    webhooks.webhooks_enqueue()
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        _make_due()
        webhooks.webhooks_send_due()
    receiver.status = 200
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 1  # the test event gets through (the alert is not due)
    receiver.status = 500
    _make_due()
    webhooks.webhooks_send_due()
    assert WebhookDelivery.objects.get(notification=notification).status == "failed"
    webhook.refresh_from_db()
    assert webhook.is_active is True and mail.outbox == []


def test_send_test_posts_a_test_event(webhook, receiver):
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 1
    assert receiver.accepted[0]["type"] == "webhook.test"
    assert receiver.accepted[0]["token"] is None


def test_after_rotation_both_secrets_verify_during_the_grace_period_and_only_the_new_one_after(webhook, receiver):
    old = webhook.secret
    webhooks.webhook_rotate_secret(webhook=webhook)
    assert webhook.secret != old and webhook.previous_secret == old
    receiver.secret = old  # a receiver that has not switched yet
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 1
    receiver.secret = webhook.secret  # one that has
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 1
    # After the grace period only the new secret signs.
    Webhook.objects.filter(pk=webhook.pk).update(previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1))
    receiver.secret = old
    webhooks.webhook_send_test(webhook=webhook)
    assert webhooks.webhooks_send_due() == 0
    assert receiver.requests[-1]["verified"] is False
    assert len(receiver.accepted) == 2


def test_a_host_that_now_resolves_privately_is_refused_at_send_time_without_connecting(
    webhook, notification, settings, monkeypatch
):
    """DNS rebinding: the host passed the check when added, then points inside."""
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False
    Webhook.objects.filter(pk=webhook.pk).update(url="https://hooks.example.com/accrual")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 443))]
    )

    def no_connect(*args, **kwargs):
        raise AssertionError("connected")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    webhooks.webhooks_enqueue()
    assert webhooks.webhooks_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert "private or reserved address (10.0.0.1)" in delivery.last_error
    assert delivery.status == "pending" and delivery.attempts == 1


def test_a_public_host_is_posted_to_the_checked_address(webhook, notification, settings, monkeypatch):
    settings.ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = False
    Webhook.objects.filter(pk=webhook.pk).update(url="https://hooks.example.com:8443/accrual")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 8443))]
    )
    sent = {}

    def fake_send(self, request, **kwargs):
        sent["url"] = str(request.url)
        sent["host"] = request.headers["Host"]
        sent["sni"] = request.extensions.get("sni_hostname")
        return httpx.Response(200, request=request)

    monkeypatch.setattr("httpx.Client.send", fake_send)
    webhooks.webhooks_enqueue()
    assert webhooks.webhooks_send_due() == 1
    assert sent == {
        "url": "https://93.184.215.14:8443/accrual",
        "host": "hooks.example.com:8443",
        "sni": "hooks.example.com",
    }


# --- Tasks ----------------------------------------------------------------------------------


def test_the_evaluation_posts_what_fired_to_the_readers_webhook(
    pro, webhook, receiver, django_capture_on_commit_callbacks
):
    token = token_with_history("alpha")
    band_change(token)
    rule(pro, token=token, kind="investor_band")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.evaluate.delay(DAY.isoformat()).get()
    assert len(receiver.accepted) == 1
    assert receiver.accepted[0]["token"]["slug"] == "alpha"
    assert tasks.deliver_webhooks.delay().get() == {"queued": 0, "delivered": 0}


def test_the_sender_is_on_the_beat_schedule_every_minute_and_expires_before_its_next_run():
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-every-minute"]
    assert entry["task"] == "webhooks.deliver"
    assert entry["schedule"] == 60
    assert entry["options"]["expires"] < 60


def test_the_stored_payload_is_the_body_sent(webhook, notification, receiver):
    webhooks.webhooks_enqueue()
    webhooks.webhooks_send_due()
    assert json.loads(receiver.requests[0]["body"]) == WebhookDelivery.objects.get().payload
