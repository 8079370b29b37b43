"""Top 10 lists in a real browser: an editor made by ``create_editor`` signs in through the
admin's login, builds a list of ten tokens with the inline's autocomplete, reorders two by
dragging, publishes it and readers see that order; a revision drops a token and the public
page records its exit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from apps.editorial.models import ListEntry, Revision, TopList
from tests.editorial.conftest import editors_group  # noqa: F401 (a fixture: the group a flush removed)
from tests.factories import PriceDayFactory
from tests.watchlists.builders import priced_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "editor@example.com"
PASSWORD = "a long and unguessable phrase"
# Eleven listed tokens: the list takes ten; "harbor" makes the search for "Arbor" offer two.
NAMES = ["arbor", "beacon", "cinder", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "kestrel"]
WEEK = dt.timedelta(days=7)


def ranked(top_list: TopList) -> list[str]:
    """The list's working entries as saved, by rank."""
    return list(ListEntry.objects.filter(top_list=top_list).order_by("rank").values_list("token__slug", flat=True))


def shown_order(page: Page) -> list[str]:
    return page.locator("table.top-list-table tbody tr[data-token]").evaluate_all(
        "rows => rows.map(row => row.dataset.token)"
    )


def pick_token(page: Page, row: Locator, token) -> None:
    """Types the token's name into the row's autocomplete and picks it from the results."""
    row.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill(token.name)
    page.get_by_role("option", name=f"{token.name} ({token.symbol})", exact=True).click()
    expect(row.locator(".select2-selection__rendered")).to_have_text(f"{token.name} ({token.symbol})")


def drag(page: Page, source: Locator, target: Locator) -> None:
    """Drags ``source`` row by its handle (the row's number) onto the upper part of ``target``
    with a real mouse: down, moves in steps, a pause for SortableJS's animation, up."""
    target.scroll_into_view_if_needed()
    source.scroll_into_view_if_needed()
    handle = source.locator("td.original p").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 5, steps=5)
    to = target.bounding_box()
    page.mouse.move(x, to["y"] + to["height"] * 0.3, steps=30)
    page.wait_for_timeout(300)
    page.mouse.move(x, to["y"] + to["height"] * 0.25, steps=3)
    page.mouse.up()


def save_and_continue(page: Page) -> None:
    # Waits for the page the save leads to: the one before has the same URL and message.
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist .success")).to_contain_text("successfully")


@pytest.mark.usefixtures("editors_group")
def test_an_editor_builds_reorders_publishes_and_revises_a_list_that_readers_see(
    live_server, page, browser, console_errors
):
    call_command("create_editor", EMAIL, password=PASSWORD)
    today = timezone.now().date()
    tokens = [priced_token(name) for name in NAMES]
    for token in tokens:
        PriceDayFactory(token=token, date=today - WEEK, price_usd=Decimal("2"))
        PriceDayFactory(token=token, date=today, price_usd=Decimal("2.5"))
    by_slug = {t.slug: t for t in tokens}

    # GIVEN an editor signed in through the admin's login page
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # WHEN they make a list of ten tokens, each typed and picked in the inline's autocomplete
    page.get_by_role("link", name="Top 10 lists").click()
    page.get_by_role("link", name="Add Top 10 list").click()
    page.get_by_label("Title").press_sequentially("Best yielders")
    expect(page.get_by_label("Slug")).to_have_value("best-yielders")  # prepopulated as typed
    page.get_by_label("Summary").fill("Ten tokens that pay their holders.")
    page.get_by_label("Criteria").fill("Holder yield above 5%.")
    rows = page.locator("#entries-group tbody tr.form-row:not(.empty-form)")
    for n, token in enumerate(tokens[:10]):
        page.get_by_role("button", name="Add another List entry").click()
        pick_token(page, rows.nth(n), token)
    save_and_continue(page)
    top_list = TopList.objects.get(slug="best-yielders")
    assert ranked(top_list) == NAMES[:10]

    # AND drag Beacon above Arbor and Juniper above Garnet
    expect(rows).to_have_count(10)
    drag(page, rows.nth(1), rows.nth(0))
    drag(page, rows.nth(9), rows.nth(6))
    save_and_continue(page)
    order = ["beacon", "arbor", "cinder", "dune", "ember", "fjord", "juniper", "garnet", "harbor", "indigo"]
    assert ranked(top_list) == order
    assert list(ListEntry.objects.filter(top_list=top_list).order_by("rank").values_list("rank", flat=True)) == [
        *range(1, 11)
    ]

    # AND publish it on the publishing page
    page.get_by_role("link", name="Publishing").click()
    expect(page.locator("#ready")).to_be_visible()
    page.get_by_role("button", name="Publish now").click()
    expect(page.locator(".messagelist .success")).to_contain_text("is published (revision 1)")

    # THEN a reader (no session) sees the ten in the new order
    reader = browser.new_context()
    public = reader.new_page()
    public.goto(f"{live_server.url}/top-lists/best-yielders/")
    expect(public.get_by_role("heading", name="Best yielders", level=1)).to_be_visible()
    assert shown_order(public) == order
    expect(public.locator("table.top-list-table tbody tr[data-token] td.num").first).to_have_text("1")

    # A week passes (a token dropped on the day it joined leaves no stay to record)
    published = timezone.now() - WEEK
    Revision.objects.filter(top_list=top_list, number=1).update(made_at=published)
    TopList.objects.filter(pk=top_list.pk).update(published_at=published)

    # WHEN the editor (back on the list's change page) deletes Dune in the inline and
    # publishes a revision with a note
    page.reload()
    rows.filter(has=page.get_by_text("Dune (DUNE)", exact=True)).locator("td.delete input[type=checkbox]").check()
    save_and_continue(page)
    assert ranked(top_list) == [slug for slug in order if slug != "dune"]
    page.get_by_role("link", name="Publishing").click()
    page.get_by_label("Why the list changes (shown to readers)").fill("Dune cut its buybacks.")
    page.get_by_role("button", name="Publish revision").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Revision 2 of “Best yielders” is published.")

    # THEN the public page lists the nine left, and its history and past entries show Dune's exit
    public.reload()
    assert shown_order(public) == [slug for slug in order if slug != "dune"]
    revision = public.locator("#revision-2")
    expect(revision).to_contain_text("Dune cut its buybacks.")
    expect(revision.locator(".dropped")).to_have_text(f"Dropped {today:%Y-%m-%d}: DUNE")
    past = public.locator('tr[data-past="dune"]')
    expect(past).to_contain_text(by_slug["dune"].name)
    expect(past.locator("td time")).to_have_text([f"{published:%Y-%m-%d}", f"{today:%Y-%m-%d}"])
    expect(past.locator("td.num")).to_have_text("+25.0%")
    expect(public.locator("tr[data-past]")).to_have_count(1)
    reader.close()
    assert console_errors == []
