"""The delivery engine against a real SMTP server on 127.0.0.1 (RELIABILITY 13 and 18): headers,
idempotence, a send killed half-way and resumed, exclusion at send time, retries and
suppression, and a flat query count per message."""

import datetime as dt
import re

import pytest
from django.core.mail.backends.smtp import EmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.newsletter import delivery
from apps.newsletter.delivery import IssueKeyError, retry_failed_deliveries, send_issue
from apps.newsletter.models import Delivery, DeliveryStatus, Subscription, SubscriptionStatus
from tests.factories import SubscriptionFactory

from .conftest import SITE, render

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Stands for SIGKILL: no ``except Exception`` cleanup runs."""


def copies(smtp, subscriptions):
    return {s.email: len(smtp.to(s.email)) for s in subscriptions}


def test_newsletter_mail_has_one_click_unsubscribe_headers_and_a_visible_link(smtp):
    """RELIABILITY 13: List-Unsubscribe is one HTTPS URL; List-Unsubscribe-Post is One-Click."""
    sub = SubscriptionFactory(email="ann@example.com")
    result = send_issue(issue_key="test:2026-12-05", render=render)
    assert result.sent == 1
    [message] = smtp.messages
    header = message["List-Unsubscribe"]
    urls = re.findall(r"<([^>]*)>", header)
    assert len(urls) == 1 and header.strip() == f"<{urls[0]}>"
    assert urls[0].startswith(f"{SITE}/newsletter/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = Delivery.objects.get(subscription=sub)
    assert message["Message-ID"] == row.message_id and row.message_id.endswith("@accrual.example>")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert urls[0] in text
    assert f'<a href="{urls[0]}">Unsubscribe</a></p></body>' in html
    assert message["To"] == "ann@example.com"


def test_sending_an_issue_again_sends_nobody_a_second_copy(smtp):
    subs = SubscriptionFactory.create_batch(5)
    first = send_issue(issue_key="test:1", render=render, batch_size=2)
    second = send_issue(issue_key="test:1", render=render, batch_size=2)
    assert (first.queued, first.sent) == (5, 5)
    assert (second.queued, second.sent) == (0, 0)
    assert copies(smtp, subs) == {s.email: 1 for s in subs}


def test_only_confirmed_subscribers_get_an_issue(smtp):
    confirmed = SubscriptionFactory()
    for status in ("pending", "unsubscribed", "suppressed"):
        SubscriptionFactory(status=status)
    send_issue(issue_key="test:1", render=render)
    assert [m["To"] for m in smtp.messages] == [confirmed.email]


def test_an_address_unsubscribed_after_the_issue_was_queued_is_skipped_at_send_time(smtp):
    """RELIABILITY 18: the check happens as each message goes out, not when the issue is queued."""
    first, second, third = SubscriptionFactory.create_batch(3)

    def render_and_unsubscribe(subscription):
        if subscription == first:  # the batch is claimed already; third leaves now
            Subscription.objects.filter(pk=third.pk).update(status=SubscriptionStatus.UNSUBSCRIBED)
        return render(subscription)

    result = send_issue(issue_key="test:1", render=render_and_unsubscribe, batch_size=10)
    assert (result.queued, result.sent, result.skipped) == (3, 2, 1)
    assert copies(smtp, [first, second, third]) == {first.email: 1, second.email: 1, third.email: 0}
    assert Delivery.objects.get(subscription=third).status == DeliveryStatus.SKIPPED


def test_a_send_killed_between_messages_resumes_and_everyone_gets_exactly_one_copy(smtp):
    subs = SubscriptionFactory.create_batch(12)
    calls = 0

    def dies_on_the_eighth(subscription):
        nonlocal calls
        calls += 1
        if calls == 8:
            raise WorkerKilled
        return render(subscription)

    with pytest.raises(WorkerKilled):
        send_issue(issue_key="test:1", render=dies_on_the_eighth, batch_size=5)
    assert smtp.count == 7
    # The dead run's second batch: 2 sent, 3 claimed and never attempted.
    assert Delivery.objects.filter(status=DeliveryStatus.CLAIMED).count() == 3

    result = send_issue(issue_key="test:1", render=render, batch_size=5)
    assert (result.requeued, result.unknown, result.sent) == (3, 0, 5)
    assert copies(smtp, subs) == {s.email: 1 for s in subs}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_send_killed_during_an_smtp_call_is_not_sent_again_and_is_left_for_review(smtp, monkeypatch):
    """At most once: a message whose SMTP call was under way when the worker died may have
    been delivered, so it is marked unknown, and the rest are sent once."""
    subs = SubscriptionFactory.create_batch(6)
    original = EmailBackend.send_messages
    calls = 0

    def dies_after_the_server_took_the_fourth(self, messages):
        nonlocal calls
        calls += 1
        sent = original(self, messages)
        if calls == 4:
            raise WorkerKilled
        return sent

    monkeypatch.setattr(EmailBackend, "send_messages", dies_after_the_server_took_the_fourth)
    with pytest.raises(WorkerKilled):
        send_issue(issue_key="test:1", render=render, batch_size=10)
    monkeypatch.setattr(EmailBackend, "send_messages", original)

    result = send_issue(issue_key="test:1", render=render, batch_size=10)
    assert (result.requeued, result.unknown, result.sent) == (2, 1, 2)
    assert copies(smtp, subs) == {s.email: 1 for s in subs}
    unknown = Delivery.objects.get(status=DeliveryStatus.UNKNOWN)
    assert unknown.subscription == subs[3] and "may have been delivered" in unknown.error


def test_a_refused_address_is_retried_with_backoff_then_suppressed(smtp, settings):
    settings.NEWSLETTER_SUPPRESS_AFTER = 3
    settings.NEWSLETTER_MAX_ATTEMPTS = 5
    settings.NEWSLETTER_RETRY_BACKOFF = 300
    good, bad = SubscriptionFactory(), SubscriptionFactory(email="gone@example.com")
    smtp.reject.add("gone@example.com")

    before = timezone.now()
    first = send_issue(issue_key="test:1", render=render)
    assert (first.sent, first.failed) == (1, 1)
    row = Delivery.objects.get(subscription=bad)
    assert row.status == DeliveryStatus.FAILED and row.attempts == 1
    assert "550" in row.error and "Mailbox unavailable" in row.error
    assert before + dt.timedelta(seconds=299) < row.next_attempt_at < timezone.now() + dt.timedelta(seconds=301)

    # Not yet due: nothing happens.
    assert retry_failed_deliveries() == [] or all(r.sent == r.failed == 0 for r in retry_failed_deliveries())
    later = timezone.now() + dt.timedelta(minutes=6)
    [second] = retry_failed_deliveries(now=later)
    row.refresh_from_db()
    assert second.failed == 1 and row.attempts == 2
    assert row.next_attempt_at > timezone.now() + dt.timedelta(seconds=599)  # doubled

    [third] = retry_failed_deliveries(now=later + dt.timedelta(hours=1))
    bad.refresh_from_db()
    row.refresh_from_db()
    assert third.suppressed == 1
    assert bad.status == SubscriptionStatus.SUPPRESSED and bad.failure_count == 3 and bad.suppressed_at
    assert row.next_attempt_at is None
    assert retry_failed_deliveries(now=later + dt.timedelta(days=1)) == []
    # The next issue skips the suppressed address altogether.
    send_issue(issue_key="test:2", render=render)
    assert len(smtp.to(good.email)) == 2 and smtp.to(bad.email) == []


def test_a_success_clears_an_address_failure_count(smtp):
    sub = SubscriptionFactory(failure_count=2, last_error="550")
    send_issue(issue_key="test:1", render=render)
    sub.refresh_from_db()
    assert (sub.failure_count, sub.last_error) == (0, "")


def test_when_the_mail_server_is_down_the_run_stops_and_its_rows_wait_for_the_next(settings, smtp):
    subs = SubscriptionFactory.create_batch(3)
    smtp.stop()
    result = send_issue(issue_key="test:1", render=render)
    assert result.sent == 0 and "Could not connect" in result.stopped
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.QUEUED}
    smtp.start()
    [resumed] = retry_failed_deliveries()
    assert resumed.sent == 3 and copies(smtp, subs) == {s.email: 1 for s in subs}


def test_an_issue_being_sent_by_another_run_is_left_to_it(smtp):
    SubscriptionFactory()
    from apps.tokens.locks import single_flight_lock

    with single_flight_lock("newsletter-send:test:1", 60):
        result = send_issue(issue_key="test:1", render=render)
    assert result.busy and smtp.count == 0


def test_a_bad_issue_key_is_refused_before_anything_is_written():
    SubscriptionFactory()
    with pytest.raises(IssueKeyError):
        send_issue(issue_key="no kind", render=render)
    assert not Delivery.objects.exists()


def test_the_send_task_finds_the_issue_renderer_by_kind(smtp):
    from apps.newsletter.tasks import send_issue as send_issue_task

    SubscriptionFactory.create_batch(2)
    assert send_issue_task.delay("test:1").get()["sent"] == 2
    assert send_issue_task.delay("unknown:1").get() == {"issue_key": "unknown:1", "skipped": True}
    assert smtp.count == 2


def _queries_for(n, smtp, issue):
    Subscription.objects.all().delete()
    SubscriptionFactory.create_batch(n)
    with CaptureQueriesContext(connection) as ctx:
        result = send_issue(issue_key=issue, render=render, batch_size=10)
    assert result.sent == n
    return len(ctx.captured_queries)


def test_database_queries_per_message_are_constant(smtp):
    """Two queries a message (mark sending, mark sent; and on PostgreSQL the sent mark's
    SET LOCAL; in a test's transaction the sent mark's atomic adds a savepoint and its
    release) plus a few a batch, at any size."""
    q10, q20, q40 = (_queries_for(n, smtp, f"test:{n}") for n in (10, 20, 40))
    per_batch_of_10 = q20 - q10
    assert q40 - q20 == 2 * per_batch_of_10
    assert per_batch_of_10 <= 10 * 5 + 5
    assert delivery.backoff(1) < delivery.backoff(2) < delivery.backoff(3)


def test_beat_runs_the_retry_task_which_resumes_unfinished_issues(smtp, settings):
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does at start: every app's tasks.py
    entry = settings.CELERY_BEAT_SCHEDULE["newsletter-retry-every-5-minutes"]
    task = app.tasks[entry["task"]]
    assert entry["options"]["expires"] < entry["schedule"]
    subs = SubscriptionFactory.create_batch(2)
    Delivery.objects.bulk_create(Delivery(issue_key="test:1", subscription=s) for s in subs)
    [result] = task.delay().get()
    assert result["sent"] == 2 and copies(smtp, subs) == {s.email: 1 for s in subs}
