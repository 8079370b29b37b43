"""The briefing as an email: subject, HTML and plain text with absolute links, as-of times and
the unsubscribe link; a subscriber whose watchlists hold the day's tokens reads them first."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from apps.briefings import services
from apps.briefings.emails import briefing_renderer, render_briefing_email
from apps.briefings.models import Briefing, EditorNote
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import TokenFactory, UserFactory

from .conftest import DAY

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC)
UNSUBSCRIBE = "https://accrual.example/newsletter/unsubscribe/tok3n/"


def watcher(*tokens) -> object:
    user = UserFactory()
    watchlist = Watchlist.objects.create(user=user, name="Mine", is_default=True)
    for token in tokens:
        WatchlistItem.objects.create(watchlist=watchlist, token=token)
    return user


def test_subject_html_and_text_carry_the_figures_links_as_of_and_unsubscribe(day_data, settings):
    settings.SITE_URL = "https://accrual.example"
    EditorNote.objects.create(date=DAY, text="Buybacks led.\n\nRevenue too.")
    briefing = services.briefing_build(day=DAY, now=NOW)

    subject, html, text = render_briefing_email(briefing, unsubscribe_url=UNSUBSCRIBE)

    assert subject.startswith("Accrual briefing 2026-11-20: 3 grade changes, 2 signal flips")
    assert 'href="https://accrual.example/tokens/uptoken/"' in html and f'href="{UNSUBSCRIBE}"' in html
    assert "<p>Buybacks led.</p>" in html and "2026-11-20 00:04 UTC" in html
    up = "- UPTO: $15.0M from $10.0M, +50.0% (as of 2026-11-20 00:04 UTC) https://accrual.example/tokens/uptoken/"
    assert up in text
    assert "- UPTO: Investor grade: B -> A, score 60.0 -> 75.5 (as of 2026-11-20 02:30 UTC)" in text
    assert "Buybacks led.\n\nRevenue too." in text and f"Unsubscribe: {UNSUBSCRIBE}" in text
    assert "<span" not in text and "&#x27;" not in text  # plain text: no markup, no escaping


def test_a_subscriber_with_watched_tokens_in_the_briefing_reads_them_first(day_data):
    user = watcher(day_data.down, TokenFactory())  # a watched token the day does not mention: left out
    briefing = services.briefing_build(day=DAY, now=NOW)

    _, html, text = render_briefing_email(briefing, subscription_user=user, unsubscribe_url=UNSUBSCRIBE)

    assert html.index('id="your-tokens"') < html.index('id="rating-changes"')
    assert text.index("YOUR TOKENS") < text.index("RATING CHANGES")
    mine = text[text.index("YOUR TOKENS") : text.index("RATING CHANGES")]
    assert "DOWN (Downtoken)" in mine and "Signal flipped bullish → bearish" in mine
    assert mine.count("http://127.0.0.1:8000/tokens/") == 1


@pytest.mark.parametrize("has_account", [False, True])
def test_no_own_section_without_an_account_or_without_watched_tokens_that_day(day_data, has_account):
    user = watcher(TokenFactory()) if has_account else None
    briefing = services.briefing_build(day=DAY, now=NOW)
    _, html, text = render_briefing_email(briefing, subscription_user=user, unsubscribe_url=UNSUBSCRIBE)
    assert 'id="your-tokens"' not in html and "YOUR TOKENS" not in text


def test_the_email_shows_what_was_built_not_todays_data(day_data):
    briefing = services.briefing_build(day=DAY, now=NOW)
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.SENT)
    day_data.up.snapshots.filter(date=DAY).update(revenue_30d=1)
    briefing.refresh_from_db()
    _, html, _ = render_briefing_email(briefing, unsubscribe_url=UNSUBSCRIBE)
    assert "$15.0M" in html


def test_a_sample_briefing_says_so(day_data):
    briefing = services.briefing_build(day=DAY, now=NOW)
    briefing.is_sample = True
    subject, html, text = render_briefing_email(briefing, unsubscribe_url=UNSUBSCRIBE)
    assert "(sample)" in subject and "Sample briefing" in html and "sample data set" in text


def test_without_an_unsubscribe_url_the_email_has_no_footer_of_its_own(day_data):
    # The newsletter's sending adds its footer and List-Unsubscribe headers itself.
    _, html, text = render_briefing_email(services.briefing_build(day=DAY, now=NOW))
    assert "Unsubscribe" not in html and "Unsubscribe" not in text


def test_the_renderer_factory_renders_a_ready_briefing_for_each_subscriber(day_data, django_assert_num_queries):
    reader = watcher(day_data.up)
    briefing = services.briefing_build(day=DAY, now=NOW)
    assert briefing_renderer("briefing:2026-11-20") is None  # a draft is not sent
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.READY)

    render = briefing_renderer("briefing:2026-11-20")
    with django_assert_num_queries(0):  # the watchers were read once, by the factory
        subject, _, mine = render(SimpleNamespace(user_id=reader.pk, email="r@example.com"))
        _, _, anonymous = render(SimpleNamespace(user_id=None, email="a@example.com"))
    assert subject.startswith("Accrual briefing 2026-11-20")
    assert "YOUR TOKENS" in mine and "UPTO (Uptoken)" in mine and "YOUR TOKENS" not in anonymous


@pytest.mark.parametrize("key", ["briefing:2026-11-21", "briefing:yesterday", "alerts:2026-11-20", "briefing"])
def test_the_renderer_factory_knows_no_other_issue(day_data, key):
    ready = services.briefing_build(day=DAY, now=NOW)
    Briefing.objects.filter(pk=ready.pk).update(status=Briefing.Status.READY)
    assert briefing_renderer(key) is None


def test_a_sponsored_list_and_entry_are_labelled_in_the_email_and_on_the_page(day_data, client):
    """Issue 14: sponsorship is said plainly wherever a list appears, the briefing included."""
    from apps.editorial.models import RevisionEntry, TopList

    TopList.objects.filter(pk=day_data.revised.pk).update(sponsored=True, sponsor_name="Acme Capital")
    RevisionEntry.objects.filter(revision__top_list=day_data.revised, token=day_data.new).update(
        sponsored=True, sponsor_name="NewCo"
    )
    briefing = services.briefing_build(day=DAY, now=NOW)

    _, html, text = render_briefing_email(briefing, unsubscribe_url=UNSUBSCRIBE)
    assert "Sponsored by Acme Capital" in html and "sponsored by NewCo" in html
    assert "SPONSORED by Acme Capital" in text and "[sponsored by NewCo]" in text
    Briefing.objects.filter(pk=briefing.pk).update(status=Briefing.Status.READY)
    page = client.get(f"/briefings/{DAY.isoformat()}/").content.decode()
    assert "Sponsored by Acme Capital" in page and "sponsored by NewCo" in page
