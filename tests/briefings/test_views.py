"""The briefing pages: the paged archive (newest first), a day's page with every figure
linked to its token page and its as-of, the Atom feed; drafts, bad dates and unknown days
are 404; the sample's briefings are labelled; query counts are flat."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.briefings import services
from apps.briefings.models import Briefing
from apps.tokens.models import DataSet
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import UserFactory

from .conftest import DAY

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


def ready(day: dt.date = DAY, **fields) -> Briefing:
    briefing = services.briefing_build(day=day, now=NOW)
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.READY, **fields)
    briefing.refresh_from_db()
    return briefing


def make_briefings(n: int) -> None:
    Briefing.objects.bulk_create(
        Briefing(
            date=DAY - dt.timedelta(days=i),
            status=Briefing.Status.SENT,
            sections={"summary": f"day {i}"},
            built_at=NOW,
        )
        for i in range(n)
    )


def test_a_days_page_links_every_figure_to_its_token_page_with_its_as_of(client, day_data):
    ready()
    html = client.get("/briefings/2026-11-20/").content.decode()

    for slug in ("uptoken", "downtoken", "flattoken"):
        assert f'href="/tokens/{slug}/"' in html
    assert '<time datetime="2026-11-20T00:04:00+00:00">2026-11-20 00:04 UTC</time>' in html  # revenue as-of
    assert '<time datetime="2026-11-20T02:30:00+00:00">2026-11-20 02:30 UTC</time>' in html  # ratings computed
    assert 'href="/top-lists/revised/"' in html and "+50.0%" in html and "Buy and burn" in html
    assert 'id="your-tokens"' not in html  # no watchlist: no section of one's own


def test_a_readers_watched_tokens_come_first_on_the_page(client, day_data):
    user = UserFactory()
    watchlist = Watchlist.objects.create(user=user, name="Mine", is_default=True)
    WatchlistItem.objects.create(watchlist=watchlist, token=day_data.new)
    ready()
    client.force_login(user)
    html = client.get("/briefings/2026-11-20/").content.decode()
    assert html.index('id="your-tokens"') < html.index('id="rating-changes"')
    assert "Joined “Top revised” at #2" in html


@pytest.mark.parametrize("path", ["/briefings/2026-11-19/", "/briefings/2026-13-40/", "/briefings/yesterday/"])
def test_unknown_days_and_bad_dates_are_404(client, path):
    ready()
    assert client.get(path).status_code == 404


def test_a_draft_is_404_and_absent_from_the_archive_and_feed(client):
    services.briefing_build(day=DAY, now=NOW)
    assert client.get("/briefings/2026-11-20/").status_code == 404
    assert "2026-11-20" not in client.get("/briefings/").content.decode()
    assert "2026-11-20" not in client.get("/briefings/feed/").content.decode()


def test_the_archive_is_paged_newest_first(client, settings):
    settings.BRIEFING_ARCHIVE_PAGE_SIZE = 5
    make_briefings(12)
    first = client.get("/briefings/").content.decode()
    assert first.index("2026-11-20") < first.index("2026-11-19") and "2026-11-15" not in first
    assert "day 0" in first and 'rel="next" href="?page=2"' in first
    third = client.get("/briefings/?page=3").content.decode()
    assert "2026-11-10" in third and "2026-11-09" in third and "2026-11-11" not in third
    assert client.get("/briefings/?page=zz").status_code == 200  # a bad page number: the first page


def test_the_feed_lists_the_latest_briefings_with_absolute_links(client, day_data):
    ready()
    ready(DAY - dt.timedelta(days=1))
    response = client.get("/briefings/feed/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}id").text for e in entries] == ["accrual:briefing:2026-11-20", "accrual:briefing:2026-11-19"]
    assert entries[0].find(f"{ATOM}link").get("href") == "http://testserver/briefings/2026-11-20/"
    assert 'href="http://testserver/tokens/uptoken/"' in entries[0].find(f"{ATOM}summary").text


def test_sample_briefings_are_labelled_and_shown_only_while_the_sample_is(client):
    ready(is_sample=True)
    assert client.get("/briefings/2026-11-20/").status_code == 404  # a database holding no sample
    DataSet.objects.create(pk=1, mode=DataSet.Mode.SAMPLE, recorded_at=NOW)
    from django.core.cache import cache

    cache.clear()
    html = client.get("/briefings/2026-11-20/").content.decode()
    assert "Sample briefing" in html
    assert "Sample briefing" in client.get("/briefings/").content.decode()


def test_the_nav_links_to_the_briefings(client):
    assert 'href="/briefings/"' in client.get("/briefings/").content.decode()


@pytest.mark.parametrize("path", ["/briefings/", "/briefings/feed/"])
def test_the_archive_and_feed_take_the_same_queries_for_2_and_20_briefings(client, path):
    make_briefings(2)
    client.get(path)  # data status cached
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    Briefing.objects.all().delete()
    make_briefings(20)
    with CaptureQueriesContext(connection) as many:
        assert client.get(path).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_days_page_takes_the_same_queries_for_a_quiet_and_a_busy_day(client, day_data):
    user = UserFactory()
    Watchlist.objects.create(user=user, name="Mine", is_default=True)
    client.force_login(user)
    quiet = ready(DAY - dt.timedelta(days=3))
    busy = ready()
    client.get(quiet.get_absolute_url())
    with CaptureQueriesContext(connection) as few:
        client.get(quiet.get_absolute_url())
    with CaptureQueriesContext(connection) as many:
        client.get(busy.get_absolute_url())
    assert len(many.captured_queries) == len(few.captured_queries)
