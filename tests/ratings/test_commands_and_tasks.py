"""The backfill command, the recompute task and its hook after data refreshes, the admin."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from celery.exceptions import Retry
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.ratings import tasks
from apps.ratings.models import LatestRating, Rating, UniverseDay
from apps.tokens import tasks as token_tasks
from apps.tokens.ingestion import sample_data_load
from apps.tokens.locks import FlightLock
from apps.tokens.models import PriceDay
from apps.tokens.providers.sample import SampleProvider
from config.celery import app
from tests.factories import UserFactory
from tests.tokens.sample_builder import write_sample

from .builders import END, rated_universe

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens():
    return rated_universe(days=200)


def backfill(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_ratings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_command_rates_a_range_with_a_progress_bar(tokens):
    out, err = backfill("--start", "2026-06-21", "--end", "2026-06-30")

    assert "Rated 10 days from 2026-06-21 to 2026-06-30: 50 token-days, 50 ratings written" in out
    assert "ratings: 100%" in err and "10/10" in err  # tqdm
    assert Rating.objects.count() == 50
    assert LatestRating.objects.filter(date=END).count() == 5


def test_backfill_command_is_idempotent(tokens):
    backfill("--start", "2026-06-28", "--end", "2026-06-30", "--no-progress")
    out, err = backfill("--start", "2026-06-28", "--end", "2026-06-30", "--no-progress")
    assert "0 ratings written, 0 events" in out and err == ""


def test_backfill_command_defaults_to_every_day_with_snapshots(tokens):
    out, _ = backfill("--no-progress")
    assert "Rated 200 days from 2026-12-13"[:9] in out and f"to {END}" in out
    assert Rating.objects.values("date").distinct().count() == 200


def test_backfill_command_writes_only_the_tokens_asked_for(tokens):
    backfill("--start", "2026-06-30", "--end", "2026-06-30", "--tokens", "alpha, beta", "--no-progress")
    assert set(Rating.objects.values_list("token__slug", flat=True)) == {"alpha", "beta"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "30/06/2026"], re.escape("Not a date (YYYY-MM-DD): '30/06/2026'")),
        (["--start", "2026-06-30", "--end", "2026-06-01"], "is after --end"),
        (["--tokens", "alpha,nope"], "Unknown token slugs: nope"),
    ],
)
def test_backfill_command_refuses_bad_arguments(tokens, args, message):
    with pytest.raises(CommandError, match=message):
        backfill(*args)


def test_backfill_command_with_no_data():
    out, _ = backfill()
    assert "nothing to rate" in out


def test_recompute_task_rates_the_newest_day(tokens):
    result = tasks.recompute.delay([tokens[0].pk]).get()

    assert result == {"day": "2026-06-30", "rated": 5, "written": 5, "changes": 0}
    assert tasks.recompute.delay([tokens[0].pk], "2026-06-29").get()["day"] == "2026-06-29"


def test_new_ratings_warm_the_pages_a_reader_opens_first(tokens, client, django_capture_on_commit_callbacks):
    """After a recompute the worker sorts home, the screener by each column, the leaderboard
    by each grade and the track record, so the first reader's request sorts nothing."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.recompute.delay([tokens[0].pk]).get()
    urls = ["/", "/tokens/", "/tokens/?sort=ps", "/tokens/?sort=name", "/ratings/", "/ratings/?grade=trader"]
    with CaptureQueriesContext(connection) as queries:
        for url in [*urls, "/ratings/track-record/"]:
            assert client.get(url).status_code == 200
    sorts = [q["sql"] for q in queries.captured_queries if "NULLS LAST" in q["sql"]]
    assert sorts == []
    cache.clear()  # and without the warming, those requests do sort
    with CaptureQueriesContext(connection) as queries:
        for url in urls:
            client.get(url)
    assert len([q for q in queries.captured_queries if "NULLS LAST" in q["sql"]]) >= len(urls) - 1


def test_recompute_task_with_nothing_changed_does_nothing(tokens):
    assert tasks.recompute.delay([]).get()["skipped"] is True
    assert not Rating.objects.exists()


def test_recompute_task_waits_for_one_in_progress(tokens, settings):
    settings.REDIS_URL = ""  # the process-local lock; tests/tokens/test_locks.py covers Redis's
    another_worker = FlightLock(tasks.LOCK_NAME, 60, "another-worker", None)
    assert another_worker.acquire()
    with pytest.raises((tasks.RecomputeBusy, Retry)):  # eagerly, the retry surfaces at once
        tasks.recompute.apply(args=[[tokens[0].pk]], throw=True).get()
    assert not Rating.objects.exists()
    assert another_worker.release()


def test_the_recompute_task_has_time_limits_and_retries_named_errors():
    app.loader.import_default_modules()
    task = app.tasks["ratings.recompute"]
    assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit
    assert tasks.RecomputeBusy in task.autoretry_for


def test_ratings_follow_a_data_refresh(tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    """A refresh that changes facts queues a recompute on commit; it rates the newest day."""
    sample_data_load(provider=SampleProvider(write_sample(tmp_path / "sample")))
    revised = SampleProvider(write_sample(tmp_path / "revised", alpha_revenue_scale=2.0))
    monkeypatch.setattr("apps.tokens.refresh.revenue_provider", lambda: revised)
    Rating.objects.all().delete()  # the load rated every day; start from none

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        token_tasks.refresh_revenue.delay(backfill=True).get()

    # The recompute, the alerts' evaluation after the refresh and after the recompute, and
    # the pages' warming after the recompute.
    assert len(callbacks) == 4
    newest = Rating.objects.order_by("-date").values_list("date", flat=True).first()
    assert newest == dt.date(2026, 3, 1)
    assert Rating.objects.filter(date=newest).count() == 3


def test_the_universe_days_follow_a_sample_load_and_a_refresh(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """The load stores the rated universe's days to its newest price; the recompute after a
    refresh stores a day missing since."""
    sample_data_load(provider=SampleProvider(write_sample(tmp_path / "sample")))
    loaded = dict(UniverseDay.objects.values_list("date", "members"))
    assert max(loaded) == PriceDay.objects.order_by("-date").values_list("date", flat=True).first()
    assert max(loaded.values()) == 3
    UniverseDay.objects.filter(date=max(loaded)).delete()
    revised = SampleProvider(write_sample(tmp_path / "revised", alpha_revenue_scale=2.0))
    monkeypatch.setattr("apps.tokens.refresh.revenue_provider", lambda: revised)

    with django_capture_on_commit_callbacks(execute=True):
        token_tasks.refresh_revenue.delay(backfill=True).get()

    assert dict(UniverseDay.objects.values_list("date", "members")) == loaded


def test_admin_shows_ratings_read_only(client, tokens):
    tasks.recompute.delay([tokens[0].pk]).get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    rating = Rating.objects.filter(token__slug="alpha").first()

    assert client.get("/admin/ratings/rating/").status_code == 200
    page = client.get(f"/admin/ratings/rating/{rating.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200 and "revenue_annualised" in html and "Save" not in html
    assert client.get("/admin/ratings/rating/add/").status_code == 403
    assert client.get("/admin/ratings/ratingchange/").status_code == 200


def test_editors_may_view_ratings():
    from django.contrib.auth.models import Group

    codenames = set(Group.objects.get(name="Editors").permissions.values_list("codename", flat=True))
    assert {"view_rating", "view_ratingchange"} <= codenames
    assert "change_rating" not in codenames


def test_ratings_after_a_sample_load_are_stamped_with_the_time_they_were_computed_and_idempotent(tmp_path):
    """What the sample load's last step calls: every day rated, stamped with the time of
    computation (not the data's as-of), and a second run writes nothing."""
    from apps.ratings.services import ratings_after_load

    provider = SampleProvider(write_sample(tmp_path / "sample"))
    started = timezone.now()
    sample_data_load(provider=provider)
    as_of = provider.as_of()
    stamps = set(Rating.objects.values_list("computed_at", flat=True))
    assert as_of not in stamps and all(started <= stamp <= timezone.now() for stamp in stamps)
    stages = []

    result = ratings_after_load(report=lambda *args: stages.append(args))

    assert result.days == 181 and stages[-1] == ("ratings", 181, 181)  # 180 days of history and today
    assert result.written == 0 and set(Rating.objects.values_list("computed_at", flat=True)) == stamps
    assert LatestRating.objects.all().count() == 3
