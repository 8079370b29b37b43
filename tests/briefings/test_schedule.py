"""The schedule: nothing before BRIEFING_TIME_UTC or before the day's ratings; under "wait"
a draft until the note or the deadline; under "skip" ready at the time; ready only once."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.briefings import services, tasks
from apps.briefings.models import Briefing, EditorNote
from tests.factories import TokenFactory

from .conftest import DAY, rate

pytestmark = pytest.mark.django_db


def at(hhmm: str) -> dt.datetime:
    return services.at_time(DAY, hhmm)


@pytest.fixture
def rated():
    rate(TokenFactory())


@pytest.fixture
def wait_until_nine(settings):
    settings.BRIEFING_TIME_UTC = "07:00"
    settings.BRIEFING_NOTE_POLICY = "wait"
    settings.BRIEFING_NOTE_DEADLINE_UTC = "09:00"


def test_nothing_is_built_before_the_time_or_before_the_days_ratings(settings, wait_until_nine):
    assert services.briefing_advance(now=at("06:59")).action == "before_time"
    assert services.briefing_advance(now=at("07:05")).action == "no_ratings"
    assert not Briefing.objects.exists()


def test_wait_keeps_a_draft_until_the_note_is_written(rated, wait_until_nine):
    step = services.briefing_advance(now=at("07:05"))
    assert step.action == "waiting_for_note" and step.briefing.status == Briefing.Status.DRAFT
    assert services.briefing_advance(now=at("08:00")).action == "waiting_for_note"

    EditorNote.objects.create(date=DAY, text="Quiet, but buybacks picked up.")
    step = services.briefing_advance(now=at("08:10"))
    assert step.action == "ready" and step.briefing.status == Briefing.Status.READY
    assert Briefing.objects.get(date=DAY).sections["note"]["text"] == "Quiet, but buybacks picked up."
    assert services.briefing_advance(now=at("08:15")).action == "done"  # ready once: one send


def test_wait_goes_without_the_note_at_the_deadline(rated, wait_until_nine):
    assert services.briefing_advance(now=at("08:59")).action == "waiting_for_note"
    step = services.briefing_advance(now=at("09:00"))
    assert step.action == "ready" and step.briefing.sections["note"] is None


def test_wait_without_a_deadline_waits_for_the_note(rated, wait_until_nine, settings):
    settings.BRIEFING_NOTE_DEADLINE_UTC = ""
    assert services.briefing_advance(now=at("23:55")).action == "waiting_for_note"


def test_skip_goes_at_the_time_with_or_without_a_note(rated, settings):
    settings.BRIEFING_NOTE_POLICY = "skip"
    step = services.briefing_advance(now=at("07:00"))
    assert step.action == "ready" and step.briefing.sections["note"] is None


def test_the_beat_task_queues_the_send_once(rated, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.BRIEFING_NOTE_POLICY = "skip"
    queued = []
    monkeypatch.setattr(tasks.send, "delay", lambda day: queued.append(day))
    monkeypatch.setattr(services.timezone, "now", lambda: at("07:03"))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.build_and_send() == {"day": "2026-11-20", "action": "ready"}
        assert tasks.build_and_send() == {"day": "2026-11-20", "action": "done"}
    assert queued == ["2026-11-20"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BRIEFING_TIME_UTC", "7am", "BRIEFING_TIME_UTC must be a time HH:MM (UTC)"),
        ("BRIEFING_NOTE_DEADLINE_UTC", "25:00", "BRIEFING_NOTE_DEADLINE_UTC must be a time HH:MM (UTC)"),
        ("BRIEFING_NOTE_POLICY", "later", "BRIEFING_NOTE_POLICY must be wait or skip"),
    ],
)
def test_a_bad_briefing_setting_fails_loudly(name, value, message):
    from tests.test_settings import manage

    result = manage("check", **{name: value})
    assert result.returncode != 0 and message in result.stderr


def test_a_sample_briefing_left_by_an_emptied_sample_is_rebuilt_from_live_data(rated, settings):
    """GIVEN a ready sample briefing of the day, left after the sample data set was emptied
    (the database now holds live data), THEN the schedule builds the day's live briefing."""
    from apps.tokens.models import DataSet

    settings.BRIEFING_NOTE_POLICY = "skip"
    Briefing.objects.create(
        date=DAY, status=Briefing.Status.READY, is_sample=True, sections={"summary": "old"}, built_at=at("00:00")
    )
    DataSet.objects.create(pk=1, mode=DataSet.Mode.LIVE, recorded_at=at("00:00"))

    step = services.briefing_advance(now=at("07:05"))
    assert step.action == "ready"
    briefing = Briefing.objects.get(date=DAY)
    assert (briefing.is_sample, briefing.status, briefing.built_at) == (False, Briefing.Status.READY, at("07:05"))
