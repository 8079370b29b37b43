"""The list pages show the performance record: each entry's change since it joined, the
dropped entries' change to their exit, the list against the rated universe, and the chart."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from apps.editorial import performance, services
from apps.editorial.selectors import list_page, list_records, public_list
from tests.factories import PriceDayFactory

from .conftest import make_tokens, published_list, set_entries

pytestmark = pytest.mark.django_db

D0 = dt.date(2026, 3, 2)
DAYS = [D0 + dt.timedelta(days=n) for n in range(8)]


def at(n: int) -> dt.datetime:
    return dt.datetime.combine(DAYS[n], dt.time(9), tzinfo=dt.UTC)


@pytest.fixture
def history():
    """A and B published on day 0; on day 3 B is dropped and C added. A doubles by day 7,
    B goes 10 → 8 by day 3, C goes 4 → 5 from day 3 to day 7."""
    a, b, c = make_tokens(3)
    for n, day in enumerate(DAYS):
        PriceDayFactory(token=a, date=day, price_usd=Decimal(10 + n * 10 / 7).quantize(Decimal("0.0001")))
        PriceDayFactory(token=b, date=day, price_usd=Decimal("10") if n < 3 else Decimal("8"))
        PriceDayFactory(token=c, date=day, price_usd=Decimal("4") if n <= 3 else Decimal("5"))
    top_list = published_list([a, b], at=at(0))
    set_entries(top_list, [a, c])
    services.publish_revision(top_list=top_list, editor=None, note="B out, C in", now=at(3))
    return top_list, (a, b, c)


def test_entries_show_their_change_since_joining_and_dropped_ones_to_their_exit(client, history):
    top_list, (a, b, c) = history

    page = list_page(public_list(top_list.slug))

    changes = {row.token.slug: row.change for row in page.entries}
    assert changes == {a.slug: Decimal("1"), c.slug: Decimal("0.25")}
    assert [(p.token, p.joined, p.exited, p.change) for p in page.past] == [(b, DAYS[0], DAYS[3], Decimal("-0.2"))]
    html = client.get(top_list.get_absolute_url()).content.decode()
    assert '<span class="chg up">+100.0%</span>' in html and '<span class="chg up">+25.0%</span>' in html
    assert f'data-past="{b.slug}"' in html and '<span class="chg down">−20.0%</span>' in html


def test_the_record_is_the_performance_modules_over_the_lists_revisions(client, history):
    top_list, (a, b, c) = history
    expected = performance.record(
        performance.memberships([(DAYS[0], [a.pk, b.pk]), (DAYS[3], [a.pk, c.pk])]), start=DAYS[0], end=DAYS[7]
    )

    page = client.get(top_list.get_absolute_url())

    record = page.context["page"].record
    assert (record.list_return, record.universe_return) == (expected.list_return, expected.universe_return)
    assert record.days == DAYS and record.list_index == expected.list_index
    chart = json.loads(
        page.content.decode().split('id="top-list-chart-data" type="application/json">')[1].split("<")[0]
    )
    assert [line["key"] for line in chart["lines"]] == ["list", "universe"]
    assert chart["lines"][0]["points"][0] == {"time": DAYS[0].isoformat(), "value": 0.0}
    last = chart["lines"][0]["points"][-1]
    assert last["time"] == DAYS[7].isoformat() and last["value"] == pytest.approx(float(expected.list_return) * 100)
    index = client.get("/top-lists/").content.decode()
    assert "Since publication:" in index


def test_an_archived_lists_record_ends_at_its_archiving(history):
    top_list, (a, _, c) = history
    services.archive(top_list=top_list, now=at(5))

    record = list_records([public_list(top_list.slug)])[top_list.pk]

    assert record.days == DAYS[:6]
    assert record.holdings[a.pk, DAYS[0]].exited == DAYS[5]
    assert record.holdings[c.pk, DAYS[3]].change == Decimal("0.25")  # 4 → 5, at day 4
