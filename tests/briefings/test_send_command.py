"""``manage.py send_briefing``: staff send or resume a past day's briefing by hand through the
newsletter's delivery engine (each confirmed subscriber once, however often it runs), or send
[TEST] copies to given addresses, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.briefings import services
from apps.briefings.models import Briefing, EditorNote
from apps.newsletter.models import Delivery, Subscription
from tests.factories import SubscriptionFactory, UserFactory
from tests.support.smtp import SMTPServer

from .conftest import DAY

pytestmark = pytest.mark.django_db
BUILT = dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC)
ISSUE = "briefing:2026-11-20"


@pytest.fixture
def smtp(settings):
    with SMTPServer() as server:
        server.settings(settings)
        yield server


@pytest.fixture
def readers() -> list[Subscription]:
    """Three confirmed subscribers, and one pending and one unsubscribed who get nothing."""
    SubscriptionFactory(email="pending@example.com", status="pending")
    SubscriptionFactory(email="gone@example.com", status="unsubscribed")
    return [SubscriptionFactory(email=f"r{n}@example.com") for n in range(3)]


def draft() -> Briefing:
    return services.briefing_build(day=DAY, now=BUILT)


def ready() -> Briefing:
    briefing = draft()
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.READY)
    return briefing


def run(*args: str) -> str:
    out = StringIO()
    call_command("send_briefing", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert raised.value.returncode != 0
    return str(raised.value)


def recipients(smtp) -> list[str]:
    return sorted(m["To"] for m in smtp.messages)


def test_a_past_days_briefing_reaches_every_confirmed_subscriber_once_and_is_marked_sent(smtp, readers):
    briefing = ready()

    out = run("2026-11-20")

    assert recipients(smtp) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert all(m["Subject"].startswith("Accrual briefing 2026-11-20") for m in smtp.messages)
    assert "sending to 3 subscriber(s)" in out and "sent 3, failed 0" in out and "Marked sent" in out
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.SENT and briefing.sent_at is not None
    assert Delivery.objects.filter(issue_key=ISSUE, status="sent").count() == 3

    again = run("2026-11-20")  # a second run: nobody is left

    assert len(smtp.messages) == 3 and "sending to 0 subscriber(s)" in again and "sent 0," in again


def test_a_resumed_send_emails_only_those_who_have_not_had_it(smtp, readers):
    ready()
    Delivery.objects.create(issue_key=ISSUE, subscription=readers[0], status="sent", sent_at=timezone.now())
    Delivery.objects.create(issue_key=ISSUE, subscription=readers[1], status="queued")  # left by a stopped run

    assert "would go to 2 subscriber(s)" in run("2026-11-20", "--dry-run")
    out = run("2026-11-20")

    assert recipients(smtp) == ["r1@example.com", "r2@example.com"] and "sent 2," in out
    assert Briefing.objects.get().status == Briefing.Status.SENT


def test_a_dry_run_sends_and_changes_nothing(smtp, readers):
    draft()

    out = run("2026-11-20", "--dry-run", "--without-note")

    assert "would go to 3 subscriber(s)" in out and "Nothing was sent" in out
    assert smtp.messages == [] and not Delivery.objects.exists()
    assert Briefing.objects.get().status == Briefing.Status.DRAFT


def test_a_day_with_no_briefing_is_refused(smtp, readers):
    assert "There is no briefing for 2026-11-20" in refused("2026-11-20")
    assert smtp.messages == [] and not Delivery.objects.exists()


def test_a_future_day_is_refused(smtp, readers):
    tomorrow = timezone.now().astimezone(dt.UTC).date() + dt.timedelta(days=1)
    services.briefing_build(day=tomorrow, now=BUILT)
    Briefing.objects.update(status=Briefing.Status.READY)

    assert "is in the future" in refused(tomorrow.isoformat())
    assert smtp.messages == [] and not Delivery.objects.exists()


def test_a_bad_date_is_refused(smtp, readers):
    assert "Not a date" in refused("20-11-2026")
    assert smtp.messages == []


def test_a_draft_waiting_for_its_note_is_refused_unless_sent_without_it(smtp, readers):
    briefing = draft()

    assert "still a draft waiting for the editor's note" in refused("2026-11-20")
    assert smtp.messages == [] and not Delivery.objects.exists()
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.DRAFT

    out = run("2026-11-20", "--without-note")

    assert "now ready" in out and len(smtp.messages) == 3
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.SENT


def test_a_draft_whose_note_was_written_since_is_rebuilt_with_it_and_sent(smtp, readers):
    draft()
    EditorNote.objects.create(date=DAY, text="Buybacks led the day.")

    run("2026-11-20")

    briefing = Briefing.objects.get()
    assert briefing.status == Briefing.Status.SENT and briefing.sections["note"]["text"] == "Buybacks led the day."
    assert all("Buybacks led the day." in m.get_body(("plain",)).get_content() for m in smtp.messages)
    assert len(smtp.messages) == 3


def test_queue_hands_the_send_to_the_worker(smtp, readers):
    ready()

    out = run("2026-11-20", "--queue")  # tasks run eagerly in tests

    assert "queued briefings.send for 3" in out and len(smtp.messages) == 3
    assert Briefing.objects.get().status == Briefing.Status.SENT


def test_test_copies_go_to_the_given_addresses_only_and_record_nothing(smtp, readers):
    briefing = draft()  # a draft too: that is what a test copy is for

    out = run("2026-11-20", "--test-to", "ed@example.com", "--test-to", "r0@example.com")

    assert recipients(smtp) == ["ed@example.com", "r0@example.com"] and "Sent 2 test copy" in out
    for message in smtp.messages:
        assert message["Subject"].startswith("[TEST] Accrual briefing 2026-11-20")
        assert message["List-Unsubscribe"] is None
        assert "TEST COPY" in message.get_body(("plain",)).get_content()
        assert "TEST COPY" in message.get_body(("html",)).get_content()
    assert not Delivery.objects.exists()
    assert sorted(Subscription.objects.values_list("status", flat=True)) == [
        "confirmed",
        "confirmed",
        "confirmed",
        "pending",
        "unsubscribed",
    ]
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.DRAFT and briefing.sent_at is None


def test_a_test_copy_to_a_bad_address_or_a_missing_day_is_refused(smtp, readers):
    draft()
    assert "Not an email address" in refused("2026-11-20", "--test-to", "nobody")
    assert "There is no briefing for 2026-11-21" in refused("2026-11-21", "--test-to", "ed@example.com")
    assert smtp.messages == []


def test_the_admin_sends_a_test_copy_to_the_staff_user(client, smtp, readers, editors_group):
    editor = UserFactory(email="editor@example.com", is_staff=True)
    editor.groups.add(editors_group)
    client.force_login(editor)
    briefing = draft()

    response = client.post(
        "/admin/briefings/briefing/",
        {"action": "send_test_copy_to_me", "_selected_action": [briefing.pk]},
        follow=True,
    )

    assert "Sent a [TEST] copy of the briefing for 2026-11-20 to editor@example.com" in response.content.decode()
    assert recipients(smtp) == ["editor@example.com"] and smtp.messages[0]["Subject"].startswith("[TEST] ")
    assert not Delivery.objects.exists()
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.DRAFT


def test_the_admins_test_copy_says_so_when_the_mail_server_is_down(client, smtp, readers, editors_group):
    editor = UserFactory(email="editor@example.com", is_staff=True)
    editor.groups.add(editors_group)
    client.force_login(editor)
    briefing = draft()
    smtp.stop()

    response = client.post(
        "/admin/briefings/briefing/",
        {"action": "send_test_copy_to_me", "_selected_action": [briefing.pk]},
        follow=True,
    )

    assert response.status_code == 200 and "could not be sent" in response.content.decode()


def test_it_sends_inline_with_the_console_backend_of_make_run(settings, readers, capsys):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    ready()

    out = run("2026-11-20")

    printed = capsys.readouterr().out
    assert "sent 3, failed 0" in out and printed.count("Subject: Accrual briefing 2026-11-20") == 3
    assert Briefing.objects.get().status == Briefing.Status.SENT
