"""/api/v1/briefings/: published briefings newest first (drafts hidden; the sample's labelled,
and only while the sample data set is shown), one day's with its stored sections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.briefings.models import Briefing
from apps.tokens.models import DataSet
from tests.factories import AS_OF, TODAY

pytestmark = pytest.mark.django_db
API = "/api/v1"


def briefing(day: dt.date, status=Briefing.Status.SENT, *, summary: str = "A quiet day", **extra) -> Briefing:
    sections = {"day": day.isoformat(), "summary": summary, "rating_changes": [{"slug": "hype", "to": "A"}]}
    return Briefing.objects.create(date=day, status=status, sections=sections, built_at=AS_OF, **extra)


def test_published_briefings_newest_first_without_drafts(api):
    briefing(TODAY - dt.timedelta(days=2), summary="2 grade changes")
    briefing(TODAY - dt.timedelta(days=1), Briefing.Status.READY)
    briefing(TODAY, Briefing.Status.DRAFT)
    body = api.get(f"{API}/briefings/").json()
    rows = body["results"]
    assert [r["date"] for r in rows] == [str(TODAY - dt.timedelta(days=1)), str(TODAY - dt.timedelta(days=2))]
    assert rows[1]["summary"] == "2 grade changes" and rows[1]["status"] == "sent" and "sections" not in rows[1]
    assert rows[0]["is_sample"] is False and body["data_set"]["sample"] is False


def test_a_days_briefing_has_its_stored_sections(api):
    day = TODAY - dt.timedelta(days=1)
    briefing(day, summary="1 grade change")
    response = api.get(f"{API}/briefings/{day}/")
    assert response.status_code == 200 and response["ETag"]
    body = response.json()
    assert body["summary"] == "1 grade change"
    assert body["sections"]["rating_changes"] == [{"slug": "hype", "to": "A"}]


def test_a_draft_an_unknown_day_and_a_bad_date(api):
    briefing(TODAY, Briefing.Status.DRAFT)
    for day in (TODAY, TODAY - dt.timedelta(days=9)):
        response = api.get(f"{API}/briefings/{day}/")
        assert response.status_code == 404 and str(day) in response.json()["detail"]
    bad = api.get(f"{API}/briefings/2026-02-31/")
    assert bad.status_code == 400 and "day" in bad.json()["errors"]


def test_sample_briefings_are_labelled_and_shown_only_with_the_sample_data_set(api):
    briefing(TODAY, is_sample=True)
    assert api.get(f"{API}/briefings/").json()["results"] == []  # no sample data set held
    assert api.get(f"{API}/briefings/{TODAY}/").status_code == 404
    DataSet.objects.create(pk=1, mode=DataSet.Mode.SAMPLE, recorded_at=AS_OF)
    cache.clear()
    response = api.get(f"{API}/briefings/")
    body = response.json()
    assert body["data_set"] == {"mode": "sample", "sample": True} and response["Accrual-Data-Set"] == "sample"
    assert body["results"][0]["is_sample"] is True
    detail = api.get(f"{API}/briefings/{TODAY}/")
    assert detail.json()["is_sample"] is True and detail["Accrual-Data-Set"] == "sample"


def count_queries(api) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"{API}/briefings/?page_size=1000")
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_query_counts_are_flat_from_3_to_300_briefings(api):
    for n in range(3):
        briefing(TODAY - dt.timedelta(days=n))
    count_queries(api)  # the key's first use records when it was last used
    small = count_queries(api)
    Briefing.objects.bulk_create(
        Briefing(date=TODAY - dt.timedelta(days=n), status="sent", sections={"summary": "x"}, built_at=AS_OF)
        for n in range(3, 300)
    )
    assert count_queries(api) == small
    assert len(api.get(f"{API}/briefings/?page_size=1000").json()["results"]) == 300
