"""Public Top 10 pages: who sees what (published and archived only), the latest revision's
entries with live figures, the sponsored label, the history, the feed, and flat query counts."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.editorial import services
from apps.editorial.models import ListEntry, TopList
from apps.tokens.models import DataSet
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import PriceDayFactory, UserFactory

from .conftest import PUBLISHED_AT, make_list, make_tokens, published_list, set_entries

pytestmark = pytest.mark.django_db


def test_drafts_and_scheduled_lists_are_404_to_readers_and_absent_from_the_index(client):
    draft = make_list(make_tokens(1, prefix="dra"), slug="draft")
    soon = make_list(make_tokens(1, prefix="sch"), slug="soon")
    services.schedule(top_list=soon, publish_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    published_list(make_tokens(1, prefix="pub"), slug="live")

    for top_list in (draft, soon):
        assert client.get(f"/top-lists/{top_list.slug}/").status_code == 404
        assert client.get(f"/top-lists/{top_list.slug}/feed/").status_code == 404
    client.force_login(UserFactory(is_staff=True))  # staff too: drafts are seen through the preview
    assert client.get("/top-lists/draft/").status_code == 404
    index = client.get("/top-lists/").content.decode()
    assert "/top-lists/live/" in index and "/top-lists/draft/" not in index and "/top-lists/soon/" not in index


def test_the_page_shows_the_latest_revision_not_the_working_entries(client):
    tokens = make_tokens(3)
    top_list = published_list(tokens[:2])
    set_entries(top_list, [tokens[0], tokens[2]])  # edited, not yet published as a revision

    html = client.get(top_list.get_absolute_url()).content.decode()
    assert f'data-token="{tokens[1].slug}"' in html and f'data-token="{tokens[2].slug}"' not in html

    services.publish_revision(
        top_list=top_list, editor=None, note="Swap two for three.", now=PUBLISHED_AT + dt.timedelta(days=40)
    )
    html = client.get(top_list.get_absolute_url()).content.decode()
    assert f'data-token="{tokens[2].slug}"' in html and f'data-token="{tokens[1].slug}"' not in html
    assert "Swap two for three." in html
    assert f'Joined 2026-07-11: <a href="/tokens/{tokens[2].slug}/">{tokens[2].symbol}</a>' in html
    assert f'Dropped 2026-07-11: <a href="/tokens/{tokens[1].slug}/">{tokens[1].symbol}</a>' in html


def test_entries_show_live_grades_figures_and_when_they_joined(client):
    from apps.ratings.models import Rating

    token = make_tokens(1)[0]
    Rating.objects.create(
        token=token,
        date=dt.date(2026, 11, 20),
        methodology_version="x",
        fingerprint="f",
        computed_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
    )
    top_list = published_list([token])

    page = client.get(top_list.get_absolute_url())

    row = page.context["page"].entries[0]
    assert row.snapshot == token.latest_snapshot and row.joined == PUBLISHED_AT.date()
    html = page.content.decode()
    assert '<time datetime="2026-06-01">2026-06-01</time>' in html
    assert "Prices as of" in html and "ratings of" in html


def test_archived_lists_stay_public_and_say_so(client):
    top_list = published_list(make_tokens(1))
    services.archive(top_list=top_list, now=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))

    html = client.get(top_list.get_absolute_url()).content.decode()
    assert '<span class="tag">Archived</span>' in html and "archived <time" in html


def test_sponsored_lists_and_entries_are_labelled_plainly(client):
    tokens = make_tokens(2)
    top_list = make_list(tokens, sponsored=True, sponsor_name="Acme Capital")
    ListEntry.objects.filter(token=tokens[1]).update(sponsored=True, sponsor_name="Beta Labs")
    services.publish(top_list=top_list, editor=None, now=PUBLISHED_AT)

    html = client.get(top_list.get_absolute_url()).content.decode()
    index = client.get("/top-lists/").content.decode()

    assert "<strong>Sponsored by Acme Capital.</strong>" in html
    assert "<strong>Sponsored by Beta Labs</strong>" in html
    assert "Sponsored by Acme Capital" in index


def test_sample_lists_are_labelled_and_shown_only_with_the_sample_data_set(client):
    top_list = published_list(make_tokens(1), slug="sample-one")
    TopList.objects.filter(pk=top_list.pk).update(is_sample=True)

    DataSet.objects.create(pk=1, mode=DataSet.Mode.SAMPLE, recorded_at=PUBLISHED_AT)
    html = client.get("/top-lists/sample-one/").content.decode()
    assert "Sample list" in html
    DataSet.objects.filter(pk=1).update(mode=DataSet.Mode.LIVE)
    from django.core.cache import cache

    cache.clear()
    assert client.get("/top-lists/sample-one/").status_code == 404


def test_a_reader_stars_the_lists_tokens(client):
    tokens = make_tokens(2)
    top_list = published_list(tokens)
    reader = UserFactory()
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    WatchlistItem.objects.create(watchlist=watchlist, token=tokens[0])
    client.force_login(reader)

    html = client.get(top_list.get_absolute_url()).content.decode()

    assert html.count('class="star-form"') == 2
    assert f'aria-label="Remove {tokens[0].symbol} from watchlist"' in html
    assert f'aria-label="Add {tokens[1].symbol} to watchlist"' in html


def test_the_atom_feed_lists_each_revision_with_its_entries_and_exits(client):
    tokens = make_tokens(3)
    top_list = published_list(tokens[:2])
    set_entries(top_list, [tokens[0], tokens[2]])
    services.publish_revision(top_list=top_list, editor=None, note="Swap.", now=PUBLISHED_AT + dt.timedelta(days=5))

    response = client.get(f"/top-lists/{top_list.slug}/feed/")

    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ElementTree.fromstring(response.content)
    entries = feed.findall("a:entry", ns)
    assert [e.find("a:title", ns).text for e in entries] == ["Revision 2", "Published"]
    summary = entries[0].find("a:summary", ns).text
    assert f"Joined: {tokens[2].name}" in summary and f"Dropped: {tokens[1].name}" in summary


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def grow(lists: int, revisions: int) -> None:
    """``lists`` published lists of five tokens, each with ``revisions`` revisions."""
    for n in range(lists):
        tokens = make_tokens(6, prefix=f"l{lists}x{n}")
        for token in tokens:  # prices for the record, which reads them all at once
            for day in range(revisions + 1):
                PriceDayFactory(token=token, date=PUBLISHED_AT.date() + dt.timedelta(days=day))
        top_list = published_list(tokens[:5], slug=f"list-{lists}-{n}")
        for r in range(2, revisions + 1):
            set_entries(top_list, tokens[r % 2 : r % 2 + 5])
            services.publish_revision(
                top_list=top_list, editor=None, note=f"r{r}", now=PUBLISHED_AT + dt.timedelta(days=r)
            )


def test_query_counts_are_flat_in_the_number_of_lists_and_revisions(client):
    """Flat with the lists' records to compute (a list page's first reader after a change)
    and with them cached (every reader after)."""
    client.force_login(UserFactory())
    queries(client, "/")  # warms what every page reads (the data status)
    grow(2, 2)
    small = [queries(client, url) for url in ("/top-lists/", "/top-lists/", "/top-lists/list-2-0/") * 2]

    grow(6, 6)
    large = [queries(client, url) for url in ("/top-lists/", "/top-lists/", "/top-lists/list-6-0/") * 2]
    assert large == small
    assert small[0] > small[1]  # the records were computed once, then read from the cache
    assert queries(client, "/top-lists/list-6-0/feed/") == queries(client, "/top-lists/list-2-0/feed/")
