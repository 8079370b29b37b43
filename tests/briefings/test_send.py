"""Sending: ``briefings.send`` hands the day's ready briefing to the newsletter's delivery
engine, which emails it (HTML and plain text, with its unsubscribe link and headers) to
each confirmed subscriber once, against a real SMTP server on 127.0.0.1; the schedule's
beat task queues it when the briefing turns ready."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.briefings import services, tasks
from apps.briefings.models import Briefing
from apps.newsletter.delivery import renderer_for
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import SubscriptionFactory, TokenFactory, UserFactory
from tests.support.smtp import SMTPServer

from .conftest import DAY, rate

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC)


@pytest.fixture
def smtp(settings):
    with SMTPServer() as server:
        server.settings(settings)
        yield server


def ready_briefing() -> Briefing:
    briefing = services.briefing_build(day=DAY, now=NOW)
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.READY)
    return briefing


def body(message, kind: str) -> str:
    return message.get_body((kind,)).get_content()


def test_each_subscriber_gets_the_briefing_once_with_their_own_tokens_first(smtp, day_data):
    reader = UserFactory()
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    WatchlistItem.objects.create(watchlist=watchlist, token=day_data.down)
    SubscriptionFactory(email="reader@example.com", user=reader)
    SubscriptionFactory(email="anon@example.com")
    SubscriptionFactory(email="pending@example.com", status="pending")
    briefing = ready_briefing()

    result = tasks.send("2026-11-20")

    assert (result["queued"], result["sent"], result["failed"]) == (2, 2, 0)
    mail = {m["To"]: m for m in smtp.messages}
    assert set(mail) == {"reader@example.com", "anon@example.com"}
    mine, theirs = mail["reader@example.com"], mail["anon@example.com"]
    assert mine["Subject"] == (
        "Accrual briefing 2026-11-20: 3 grade changes, 2 signal flips, 3 revenue movers, 3 buybacks and burns, "
        "1 Top 10 revision"
    )
    assert body(mine, "plain").index("YOUR TOKENS") < body(mine, "plain").index("RATING CHANGES")
    assert 'id="your-tokens"' in body(mine, "html") and "YOUR TOKENS" not in body(theirs, "plain")
    assert "http://127.0.0.1:8000/tokens/uptoken/" in body(theirs, "plain")
    assert mine["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:8000/newsletter/unsubscribe/")
    assert body(mine, "plain").count("Unsubscribe:") == 1  # the newsletter's footer, not a second one
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.SENT and briefing.sent_at is not None

    again = tasks.send("2026-11-20")
    assert (again["queued"], again["sent"]) == (0, 0) and len(smtp.messages) == 2


@pytest.mark.parametrize("day", ["2026-11-20", "2026-11-21", "not-a-day"])
def test_a_draft_or_missing_briefing_is_not_sent(smtp, day):
    SubscriptionFactory()
    services.briefing_build(day=DAY, now=NOW)  # a draft
    assert tasks.send(day) == {"issue_key": f"briefing:{day}", "skipped": True}
    assert smtp.messages == [] and Briefing.objects.get().status == Briefing.Status.DRAFT


def test_the_newsletters_retries_find_the_briefings_renderer():
    ready_briefing()
    render = renderer_for("briefing:2026-11-20")
    assert render is not None and render(SubscriptionFactory.build(user=None))[0].startswith("Accrual briefing")


def test_the_schedule_builds_and_sends_the_days_briefing_once(
    smtp, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.BRIEFING_NOTE_POLICY = "skip"
    SubscriptionFactory(email="ann@example.com")
    rate(TokenFactory())
    monkeypatch.setattr(services.timezone, "now", lambda: NOW)

    with django_capture_on_commit_callbacks(execute=True):  # send.delay runs eagerly in tests
        assert tasks.build_and_send()["action"] == "ready"
        assert tasks.build_and_send()["action"] == "done"

    assert [m["To"] for m in smtp.messages] == ["ann@example.com"]
    assert Briefing.objects.get(date=DAY).status == Briefing.Status.SENT
