"""Alert rules' writes (plan limit, validation), email delivery (immediate once, one digest a
reader, in-app never emailed, a failed send retried) and the tasks' wiring after refreshes
and ratings."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError

from apps.accounts.models import Plan
from apps.tokens.tasks import refresh_followup
from apps.watchlists import alerts, tasks
from apps.watchlists.alerts import alert_rule_create, alerts_send_digest, alerts_send_immediate
from apps.watchlists.evaluation import alerts_evaluate
from apps.watchlists.models import AlertRule, Notification, Watchlist
from apps.watchlists.services import LimitReached, watchlist_create
from tests.factories import UserFactory
from tests.watchlists.alert_builders import DAY, band_change, rule, token_with_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader():
    return UserFactory(email="reader@example.com")


# --- Rules -------------------------------------------------------------------------------


def test_the_plan_limit_stops_a_rule_with_a_message(reader):
    Plan.objects.filter(slug="free").update(max_alert_rules=2)
    token = token_with_history("alpha")
    for _ in range(2):
        alert_rule_create(user=reader, token=token, kind="investor_band")
    with pytest.raises(LimitReached) as exc:
        alert_rule_create(user=reader, token=token, kind="trader_band")
    assert "Your Free plan allows 2 alert rules" in exc.value.message
    assert AlertRule.objects.filter(user=reader).count() == 2


def test_a_rule_needs_a_positive_threshold_where_it_has_one(reader):
    token = token_with_history("alpha")
    for threshold in (None, Decimal("0"), Decimal("-5")):
        with pytest.raises(ValidationError):
            alert_rule_create(user=reader, token=token, kind="price_move", threshold=threshold)
    assert not AlertRule.objects.exists()


def test_a_rule_on_another_readers_watchlist_is_refused(reader):
    theirs = watchlist_create(user=UserFactory(), name="Theirs")
    with pytest.raises(ValidationError):
        alert_rule_create(user=reader, watchlist=theirs, kind="investor_band")
    assert not AlertRule.objects.exists()


def test_a_rule_on_a_watchlist_deleted_meanwhile_is_refused_not_a_crash(reader):
    mine = watchlist_create(user=reader, name="Mine")
    Watchlist.objects.filter(pk=mine.pk).delete()  # another request's delete, after the form read it
    with pytest.raises(ValidationError):
        alert_rule_create(user=reader, watchlist=mine, kind="investor_band")
    assert not AlertRule.objects.exists()


def test_a_rule_without_threshold_kind_drops_a_threshold_given(reader):
    r = alert_rule_create(user=reader, token=token_with_history("alpha"), kind="signal_flip", threshold=Decimal("3"))
    assert r.threshold is None


# --- Email -------------------------------------------------------------------------------


def _fire(reader, delivery: str, slug: str = "alpha"):
    token = token_with_history(slug)
    band_change(token)
    rule(reader, token=token, kind="investor_band", delivery=delivery)
    alerts_evaluate(day=DAY)


def test_an_immediate_notification_is_emailed_once(reader):
    _fire(reader, "immediate")
    assert alerts_send_immediate() == 1
    assert alerts_send_immediate() == 0  # a second worker, or a redelivered task, sends nothing
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["reader@example.com"]
    assert "ALPHA: investor grade B → A" in mail.outbox[0].subject
    assert Notification.objects.get().emailed_at is not None


def test_rows_claimed_by_another_worker_are_not_sent_again(reader):
    _fire(reader, "immediate")
    # Another worker claimed the row (stamped emailed_at) between this one's start and its claim.
    Notification.objects.update(emailed_at="2026-12-05T08:00:00Z")
    assert alerts_send_immediate() == 0
    assert mail.outbox == []


def test_a_failed_send_puts_the_notification_back_for_the_next_run(reader):
    _fire(reader, "immediate")
    with mock.patch.object(alerts, "send_mail", side_effect=ConnectionError("smtp down")):
        assert alerts_send_immediate() == 0
    assert Notification.objects.get().emailed_at is None
    assert alerts_send_immediate() == 1
    assert len(mail.outbox) == 1


def test_the_digest_sends_one_email_per_reader_with_all_their_notifications(reader):
    other = UserFactory(email="other@example.com")
    _fire(reader, "digest", "alpha")
    _fire(reader, "digest", "beta")
    _fire(other, "digest", "gamma")
    _fire(reader, "immediate", "delta")  # not in the digest
    assert alerts_send_digest() == 2
    assert alerts_send_digest() == 0
    by_reader = {m.to[0]: m for m in mail.outbox}
    assert set(by_reader) == {"reader@example.com", "other@example.com"}
    assert "2 alerts" in by_reader["reader@example.com"].subject
    body = by_reader["reader@example.com"].body
    assert "ALPHA" in body and "BETA" in body and "DELTA" not in body and "GAMMA" not in body


def test_in_app_notifications_are_never_emailed(reader):
    _fire(reader, "in_app")
    assert alerts_send_immediate() == 0 and alerts_send_digest() == 0
    assert mail.outbox == []


def test_the_digest_is_on_the_beat_schedule_and_expires_before_its_next_run():
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-digest-daily"]
    assert entry["task"] == "alerts.send_digest"
    assert entry["options"]["expires"] < 24 * 3600


# --- Tasks -------------------------------------------------------------------------------


def test_the_evaluate_task_fires_and_queues_the_immediate_email_on_commit(reader, django_capture_on_commit_callbacks):
    token = token_with_history("alpha")
    band_change(token)
    rule(reader, token=token, kind="investor_band", delivery="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.evaluate.delay(DAY.isoformat()).get()
    assert result == {"day": "2026-12-05", "matched": 1, "immediate": 1}
    assert len(mail.outbox) == 1


def test_the_evaluate_task_defaults_to_the_newest_snapshot_day(reader):
    token = token_with_history("alpha")
    band_change(token)
    rule(reader, token=token, kind="investor_band")
    assert tasks.evaluate()["day"] == DAY.isoformat()
    assert Notification.objects.count() == 1


def test_a_refresh_queues_the_evaluation_on_commit(django_capture_on_commit_callbacks):
    with (
        mock.patch.object(tasks.evaluate, "delay") as evaluate,
        mock.patch("apps.tokens.tasks.ratings_recompute") as recompute,
        django_capture_on_commit_callbacks(execute=True),
    ):
        refresh_followup(changed_tokens={1})
    evaluate.assert_called_once_with(None)
    recompute.delay.assert_called_once_with([1])


def test_a_ratings_recompute_queues_the_evaluation_of_its_day(django_capture_on_commit_callbacks):
    from apps.ratings import tasks as ratings_tasks

    token_with_history("alpha")
    with (
        mock.patch.object(tasks.evaluate, "delay") as evaluate,
        django_capture_on_commit_callbacks(execute=True),
    ):
        ratings_tasks.recompute.apply(kwargs={"token_ids": [1], "day": DAY.isoformat()}).get()
    evaluate.assert_called_once_with(DAY.isoformat())


def test_the_evaluate_alerts_command_fires_and_sends(reader):
    from io import StringIO

    from django.core.management import call_command

    token = token_with_history("alpha")
    band_change(token)
    rule(reader, token=token, kind="investor_band", delivery="immediate")
    rule(reader, token=token, kind="trader_band", delivery="digest")
    band_change(token, subject="trader", before="C", after="D")
    out = StringIO()
    call_command("evaluate_alerts", "--digest", stdout=out)
    assert "2026-12-05: 2 matches (each fires once); 1 immediate emails sent; 1 digest emails sent" in out.getvalue()
    assert len(mail.outbox) == 2
    call_command("evaluate_alerts", "--day", "2026-12-05", stdout=out)
    assert Notification.objects.count() == 2 and len(mail.outbox) == 2


def test_the_evaluate_alerts_command_without_data_says_so():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No snapshot yet"):
        call_command("evaluate_alerts")
