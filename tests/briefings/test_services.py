"""The builder: the right figures in each section, frozen as built, rebuilt only until sent,
in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.briefings import services
from apps.briefings.models import Briefing, EditorNote
from apps.tokens.models import MetricSnapshot

from .conftest import DAY, flip, grade_change, token_with_revenue

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC)


def slugs(rows: list[dict]) -> list[str]:
    return [row["slug"] for row in rows]


def test_movers_are_week_over_week_moves_of_ten_percent_or_more_on_a_real_base_largest_first(day_data):
    s = services.briefing_build(day=DAY, now=NOW).sections

    assert slugs(s["revenue_movers"]) == ["downtoken", "uptoken"]  # −50 % and +50 %: slug breaks the tie
    up = s["revenue_movers"][1]
    assert (up["value"], up["previous"], up["change"]) == ("15000000.0000", "10000000.0000", "0.5000")
    assert up["previous_date"] == "2026-11-13" and up["as_of"] == "2026-11-20T00:04:00+00:00"
    assert slugs(s["holders_revenue_movers"]) == ["downtoken"]
    assert s["holders_revenue_movers"][0]["change"] == "-0.6000"


def test_grade_changes_largest_move_first_and_signal_flips_bullish_first(day_data):
    s = services.briefing_build(day=DAY, now=NOW).sections

    assert [(r["slug"], r["subject"]) for r in s["rating_changes"]] == [
        ("uptoken", "investor"),  # +15.5
        ("flattoken", "investor"),  # +8.0, no band change
        ("downtoken", "trader"),  # −5.0
    ]
    up, flat, down = s["rating_changes"]
    assert (up["band_changed"], up["grade_before"], up["grade_after"], up["move"]) == (True, "B", "A", "15.5")
    assert (flat["band_changed"], flat["grade_after"]) == (False, None)
    assert down["as_of"] == "2026-11-20T02:30:00+00:00"
    assert [(r["slug"], r["after"]) for r in s["signal_flips"]] == [("flattoken", "bullish"), ("downtoken", "bearish")]
    assert s["rating_changes_total"] == 3 and s["signal_flips_total"] == 2


def test_buybacks_and_burns_dated_the_day_before_largest_first_without_distributions(day_data):
    s = services.briefing_build(day=DAY, now=NOW).sections

    assert [(e["slug"], e["kind"]) for e in s["accrual_events"]] == [
        ("flattoken", "buyback-burn"),
        ("uptoken", "buyback"),
        ("downtoken", "burn"),  # no USD amount: last
    ]
    assert s["accrual_events"][2]["usd_amount"] is None and s["accrual_events"][1]["as_of"]
    assert s["events_day"] == "2026-11-19" and {e["date"] for e in s["accrual_events"]} == {"2026-11-19"}


def test_top_10_revisions_of_the_24_hours_to_the_briefing_time_with_joined_and_dropped(day_data):
    s = services.briefing_build(day=DAY, now=NOW).sections

    (revision,) = s["top_list_revisions"]
    assert (revision["list_slug"], revision["number"]) == ("revised", 2)
    assert [(t["slug"], t["rank"]) for t in revision["joined"]] == [("newtoken", 2)]
    assert slugs(revision["dropped"]) == ["downtoken"]
    assert revision["note"] == "New joins; down leaves."
    # The list published at 08:00 is the next day's news.
    nxt = services.briefing_build(day=DAY + dt.timedelta(days=1), now=NOW).sections["top_list_revisions"]
    assert [(r["list_slug"], r["number"], r["joined"][0]["slug"]) for r in nxt] == [("later", 1, "tinytoken")]


def test_the_editors_note_goes_in_with_its_author(day_data, editors_group):
    from tests.factories import UserFactory

    EditorNote.objects.create(date=DAY, text="  Revenue led today.  ", author=UserFactory(display_name="Ada"))
    note = services.briefing_build(day=DAY, now=NOW).sections["note"]
    assert (note["text"], note["author"]) == ("Revenue led today.", "Ada")


def test_the_watch_map_has_every_figure_of_each_token_in_words(day_data):
    watch = services.briefing_build(day=DAY, now=NOW).sections["watch"]

    lines = [line["text"] for line in watch["downtoken"]["lines"]]
    assert lines == [
        "Trader grade C → D (score 50.0 → 45.0)",
        "Signal flipped bullish → bearish",
        "30-day revenue −50.0% in 7 days, to $5.0M",
        "30-day holders revenue −60.0% in 7 days, to $2.0M",
        "Burn on 2026-11-19",
        "Dropped from “Top revised”",
    ]
    assert [line["text"] for line in watch["newtoken"]["lines"]] == ["Joined “Top revised” at #2"]
    assert "tinytoken" not in watch


def test_a_rebuild_replaces_the_sections_until_the_briefing_is_sent(day_data):
    first = services.briefing_build(day=DAY, now=NOW)
    MetricSnapshot.objects.filter(token=day_data.flat, date=DAY).update(revenue_30d=30_000_000)

    again = services.briefing_build(day=DAY, now=NOW + dt.timedelta(minutes=5))
    assert again.pk == first.pk and Briefing.objects.count() == 1
    assert slugs(again.sections["revenue_movers"]) == ["flattoken", "downtoken", "uptoken"]
    assert again.built_at == NOW + dt.timedelta(minutes=5)

    services.briefing_mark_sent(briefing=again, now=NOW + dt.timedelta(minutes=10))
    MetricSnapshot.objects.filter(token=day_data.flat, date=DAY).update(revenue_30d=15_000_000)
    sent = services.briefing_build(day=DAY, now=NOW + dt.timedelta(hours=1))
    sent.refresh_from_db()
    assert sent.status == Briefing.Status.SENT and slugs(sent.sections["revenue_movers"])[0] == "flattoken"
    assert sent.built_at == NOW + dt.timedelta(minutes=5)


def test_a_quiet_day_builds_empty_sections():
    s = services.briefing_build(day=DAY, now=NOW).sections
    assert s["summary"] == "A quiet day" and s["note"] is None
    assert s["rating_changes"] == s["revenue_movers"] == s["accrual_events"] == s["top_list_revisions"] == []


def _more_of_everything(n: int) -> None:
    for i in range(n):
        token = token_with_revenue(f"more{i}", now="20000000", before="10000000", holders_now="9", holders_before="1")
        grade_change(token, "investor", "C", "B", ("50.0", "60.0"))
        flip(token, "neutral", "bullish")


def test_the_build_takes_the_same_number_of_queries_for_few_and_many_figures(day_data):
    services.briefing_build(day=DAY, now=NOW)  # the rebuilds compared below: no insert, data status cached
    with CaptureQueriesContext(connection) as few:
        services.briefing_build(day=DAY, now=NOW)
    _more_of_everything(15)
    with CaptureQueriesContext(connection) as many:
        built = services.briefing_build(day=DAY, now=NOW)
    assert len(built.sections["revenue_movers"]) == services.TOP_N
    assert len(many.captured_queries) == len(few.captured_queries) <= 15
