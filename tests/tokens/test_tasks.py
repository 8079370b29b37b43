"""Celery tasks in-process (eager): thin wrappers, single flight, beat schedule hygiene."""

import datetime as dt
import itertools

import pytest
from django.conf import settings

from apps.tokens import tasks
from apps.tokens.ingestion import sample_data_load
from apps.tokens.locks import FlightLock
from apps.tokens.models import SyncRun
from apps.tokens.providers.sample import SampleProvider
from config.celery import app

from .sample_builder import write_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(tmp_path, monkeypatch):
    provider = SampleProvider(write_sample(tmp_path / "sample"))
    sample_data_load(provider=provider)
    monkeypatch.setattr("apps.tokens.refresh.market_provider", lambda: provider)
    monkeypatch.setattr("apps.tokens.refresh.revenue_provider", lambda: provider)
    return provider


def test_refresh_tasks_run_the_services_and_record_runs(sample):
    result = tasks.refresh_revenue.delay(backfill=True).get()
    assert result["status"] == "succeeded"
    assert tasks.refresh_markets.delay().get()["status"] == "succeeded"
    assert tasks.refresh_price_history.delay(backfill_days=30).get()["status"] == "succeeded"
    assert SyncRun.objects.filter(kind__in=["markets", "price-history", "revenue-history"]).count() == 3


def test_a_refresh_already_running_elsewhere_is_skipped(sample, lock_backend):
    held = FlightLock("refresh_revenue", 60, "another-task-id", lock_backend)
    assert held.acquire()
    assert tasks.refresh_revenue.delay().get() == {"skipped": True}
    assert not SyncRun.objects.filter(kind="revenue-history").exists()
    assert held.release()  # still the other task's lock: the skipped run did not free it


def test_a_redelivered_task_takes_over_its_own_lock(sample, lock_backend):
    # The worker that ran "the-same-id" was killed holding the lock; the broker redelivers it.
    assert FlightLock("refresh_revenue", 60, "the-same-id", lock_backend).acquire()
    result = tasks.refresh_revenue.apply(task_id="the-same-id").get()
    assert result["status"] == "succeeded"
    # Released when done: the next run of anyone gets it.
    assert FlightLock("refresh_revenue", 60, "the-next-id", lock_backend).acquire()


def test_a_run_cut_off_by_a_dead_worker_is_marked_failed_by_the_next(sample):
    orphan = SyncRun.objects.create(provider="sample", kind="revenue-history", started_at="2026-01-01T00:00Z")
    tasks.refresh_revenue.delay().get()
    orphan.refresh_from_db()
    assert orphan.status == SyncRun.Status.FAILED and "worker stopped" in orphan.error


def test_every_task_has_soft_and_hard_time_limits():
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.startswith("tokens.")]
    assert len(ours) >= 4
    for task in ours:
        assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit, task.name


def test_every_beat_entry_expires_before_its_next_run():
    assert settings.CELERY_BEAT_SCHEDULE
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = entry["schedule"]
        period = schedule if isinstance(schedule, int | float) else _crontab_period(schedule)
        assert entry["options"]["expires"] < period, name
        assert entry["task"] in app.tasks, name


def _crontab_period(schedule) -> float:
    """Smallest gap between two consecutive runs of a crontab over two days."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    runs, moment = [], start
    while moment < start + dt.timedelta(days=2):
        if _matches(schedule, moment):
            runs.append(moment)
        moment += dt.timedelta(minutes=1)
    return min((b - a).total_seconds() for a, b in itertools.pairwise(runs))


def _matches(schedule, moment) -> bool:
    return (
        moment.minute in schedule.minute
        and moment.hour in schedule.hour
        and moment.isoweekday() % 7 in schedule.day_of_week
        and moment.day in schedule.day_of_month
        and moment.month in schedule.month_of_year
    )
