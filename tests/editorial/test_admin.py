"""Editors' admin for Top 10 lists: what an editor may do (and not: ratings, users, plans),
the inline entries' checks, the preview, the publishing page and the change history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from apps.accounts.models import Plan, User
from apps.editorial.models import ListEntry, Revision, TopList
from apps.ratings.models import Rating
from apps.tokens.models import Listing
from tests.factories import UserFactory

from .conftest import make_list, make_tokens, published_list

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/editorial/toplist/add/"


def list_form(tokens, *, slug: str = "new-list", **extra) -> dict:
    """The add form's POST: the list's fields and one inline row per token."""
    data = {
        "title": "New list",
        "slug": slug,
        "summary": "Summary",
        "criteria": "Criteria",
        "publish_at_0": "",
        "publish_at_1": "",
        "sponsor_name": "",
        "entries-TOTAL_FORMS": str(len(tokens)),
        "entries-INITIAL_FORMS": "0",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "10",
    }
    for n, token in enumerate(tokens):
        data[f"entries-{n}-token"] = str(token if isinstance(token, int) else token.pk)
        data[f"entries-{n}-rank"] = str(n + 1)
        data[f"entries-{n}-blurb"] = f"Blurb {n}"
        data[f"entries-{n}-sponsor_name"] = ""
    data.update(extra)
    return data


def errors_of(response) -> str:
    return " ".join(
        str(e) for formset in response.context["inline_admin_formsets"] for e in formset.formset.non_form_errors()
    )


# --- Who may do what ---------------------------------------------------------------------


def test_the_editors_group_may_edit_lists_entries_and_notes_and_view_history(editors_group):
    codenames = set(
        editors_group.permissions.filter(content_type__app_label="editorial").values_list("codename", flat=True)
    )

    assert {"add_toplist", "change_toplist", "view_toplist"} <= codenames
    assert {"add_listentry", "change_listentry", "delete_listentry"} <= codenames
    assert {"change_revision", "view_revision"} <= codenames
    assert {"view_historicaltoplist", "view_historicallistentry", "view_historicalrevision"} <= codenames
    assert not codenames & {"delete_toplist", "add_revision", "delete_revision", "change_revisionentry"}


def test_an_editor_creates_a_list_with_inline_entries(client, editor):
    tokens = make_tokens(3)
    assert client.get("/admin/editorial/toplist/").status_code == 200
    assert client.get(ADD_URL).status_code == 200

    response = client.post(ADD_URL, list_form(tokens))

    assert response.status_code == 302, errors_of(response)
    top_list = TopList.objects.get(slug="new-list")
    assert top_list.status == TopList.Status.DRAFT and top_list.author == editor
    assert list(top_list.editors.all()) == [editor]
    assert [(e.token_id, e.rank) for e in top_list.entries.all()] == [(t.pk, n) for n, t in enumerate(tokens, 1)]
    change = client.get(f"/admin/editorial/toplist/{top_list.pk}/change/")
    assert change.status_code == 200 and f"/admin/editorial/toplist/{top_list.pk}/preview/" in change.content.decode()
    assert "adminsortable2" in change.content.decode()  # the drag-and-drop inline
    search = client.get(
        "/admin/autocomplete/",
        {"app_label": "editorial", "model_name": "listentry", "field_name": "token", "term": tokens[0].symbol},
    )
    assert search.status_code == 200 and search.json()["results"][0]["id"] == str(tokens[0].pk)


def test_an_editor_cannot_touch_ratings_users_or_plans(client, editor):
    token = make_tokens(1)[0]
    rating = Rating.objects.create(
        token=token, date="2026-11-20", methodology_version="x", fingerprint="f", computed_at="2026-11-20T00:00Z"
    )
    plan = Plan.objects.create(name="Gold", slug="gold")

    assert client.post(f"/admin/ratings/rating/{rating.pk}/change/", {"investor_grade": "A"}).status_code == 403
    assert client.get("/admin/ratings/rating/add/").status_code == 403
    assert client.post(f"/admin/ratings/rating/{rating.pk}/delete/", {"post": "yes"}).status_code == 403
    for url in [
        "/admin/accounts/user/",
        f"/admin/accounts/user/{editor.pk}/change/",
        "/admin/accounts/plan/",
        f"/admin/accounts/plan/{plan.pk}/change/",
        "/admin/auth/group/",
    ]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/accounts/plan/{plan.pk}/change/", {"name": "Free"}).status_code == 403
    assert Rating.objects.get().investor_grade == "" and Plan.objects.get(pk=plan.pk).name == "Gold"
    editor.refresh_from_db()
    assert not editor.is_superuser


def test_staff_outside_the_group_and_readers_cannot_open_lists(client):
    top_list = make_list(make_tokens(1))
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/admin/editorial/toplist/").status_code == 403
    assert client.get(f"/admin/editorial/toplist/{top_list.pk}/preview/").status_code == 403
    assert client.post(f"/admin/editorial/toplist/{top_list.pk}/publishing/", {"action": "publish"}).status_code == 403
    client.force_login(UserFactory())
    response = client.get(f"/admin/editorial/toplist/{top_list.pk}/preview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert TopList.objects.get().status == TopList.Status.DRAFT


# --- The inline entries' checks ------------------------------------------------------------


def test_duplicate_tokens_are_refused_and_nothing_is_saved(client, editor):
    token, other = make_tokens(2)

    response = client.post(ADD_URL, list_form([token, other, token]))

    assert response.status_code == 200
    assert f"{token.symbol} is on the list twice: each token may appear once." in errors_of(response)
    assert not TopList.objects.exists() and not ListEntry.objects.exists()


def test_an_eleventh_entry_is_refused_and_nothing_is_saved(client, editor):
    response = client.post(ADD_URL, list_form(make_tokens(11)))

    assert response.status_code == 200
    assert "at most 10" in errors_of(response) or "at most 10" in response.content.decode()
    assert not TopList.objects.exists() and not ListEntry.objects.exists()


def test_an_unknown_or_delisted_token_is_refused_and_nothing_is_saved(client, editor):
    token, delisted = make_tokens(2)
    delisted.listing = Listing.DELISTED
    delisted.save()

    unknown = client.post(ADD_URL, list_form([token, 987654]))
    assert unknown.status_code == 200 and "No such token: pick one from the search." in unknown.content.decode()
    response = client.post(ADD_URL, list_form([token, delisted]))
    assert f"{delisted.symbol} is delisted: remove it or choose another token." in errors_of(response)
    assert not TopList.objects.exists() and not ListEntry.objects.exists()


def test_removing_an_entry_closes_the_ranks_up(client, editor):
    tokens = make_tokens(3)
    top_list = make_list(tokens)
    entries = list(top_list.entries.order_by("rank"))
    data = list_form([], slug=top_list.slug, title=top_list.title)
    data.update({"entries-TOTAL_FORMS": "3", "entries-INITIAL_FORMS": "3"})
    for n, entry in enumerate(entries):
        data.update(
            {
                f"entries-{n}-id": entry.pk,
                f"entries-{n}-top_list": top_list.pk,
                f"entries-{n}-token": entry.token_id,
                f"entries-{n}-rank": entry.rank,
                f"entries-{n}-blurb": entry.blurb,
                f"entries-{n}-sponsor_name": "",
            }
        )
    data["entries-1-DELETE"] = "on"

    response = client.post(f"/admin/editorial/toplist/{top_list.pk}/change/", data)

    assert response.status_code == 302
    assert list(top_list.entries.values_list("token_id", "rank")) == [(tokens[0].pk, 1), (tokens[2].pk, 2)]


# --- Preview, publishing, history ------------------------------------------------------------


def test_an_editor_previews_a_draft_with_its_working_entries(client, editor):
    tokens = make_tokens(2)
    top_list = make_list(tokens, sponsored=True, sponsor_name="Acme")

    response = client.get(f"/admin/editorial/toplist/{top_list.pk}/preview/")

    html = response.content.decode()
    assert response.status_code == 200 and "Preview — not public." in html
    assert tokens[0].symbol in html and tokens[1].symbol in html and "Sponsored by Acme." in html
    assert client.get(top_list.get_absolute_url()).status_code == 404


def test_the_publishing_page_lists_the_problems_and_publishes_nothing_until_fixed(client, editor):
    token = make_tokens(1)[0]
    top_list = make_list([token], summary="")
    url = f"/admin/editorial/toplist/{top_list.pk}/publishing/"

    page = client.get(url)
    assert page.status_code == 200 and "The list needs a summary." in page.content.decode()
    refused = client.post(url, {"action": "publish"})
    assert refused.status_code == 422 and "The list needs a summary." in refused.content.decode()
    assert not Revision.objects.exists()

    TopList.objects.filter(pk=top_list.pk).update(summary="Now complete")
    assert client.post(url, {"action": "publish", "note": "First."}).status_code == 302
    top_list.refresh_from_db()
    assert top_list.status == TopList.Status.PUBLISHED and top_list.revisions.get().editor == editor


def test_an_editor_publishes_a_revision_with_a_note(client, editor):
    tokens = make_tokens(3)
    top_list = published_list(tokens[:2])
    ListEntry.objects.create(top_list=top_list, token=tokens[2], rank=3)
    url = f"/admin/editorial/toplist/{top_list.pk}/publishing/"

    assert "needs a note" in client.post(url, {"action": "revise", "note": ""}).content.decode()
    assert client.post(url, {"action": "revise", "note": "Add a third."}).status_code == 302

    assert list(top_list.revisions.values_list("number", "note")) == [(1, "First published."), (2, "Add a third.")]


def test_every_change_is_kept_with_who_when_and_the_old_values(client, editor):
    tokens = make_tokens(2)
    client.post(ADD_URL, list_form(tokens))
    top_list = TopList.objects.get()
    entry = top_list.entries.get(rank=1)
    entry.blurb = "A better blurb"
    entry.save()
    top_list.title = "Renamed list"
    top_list.save()

    history = client.get(f"/admin/editorial/toplist/{top_list.pk}/history/")
    entries = client.get(f"/admin/editorial/toplist/{top_list.pk}/entry-history/")

    assert history.status_code == 200 and "editor@example.com" in history.content.decode()
    assert top_list.history.count() == 2 and top_list.history.earliest().title == "New list"
    assert top_list.history.earliest().history_user == editor
    html = entries.content.decode()
    assert entries.status_code == 200 and "editor@example.com" in html
    assert "<del>Blurb 0</del> → <ins>A better blurb</ins>" in html


def test_a_revision_note_can_be_corrected_and_its_old_wording_kept(client, editor):
    top_list = published_list(make_tokens(1))
    revision = top_list.revisions.get()

    inline = {
        "entries-TOTAL_FORMS": "1",
        "entries-INITIAL_FORMS": "1",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/editorial/revision/{revision.pk}/change/", {"note": "Corrected note.", **inline})

    assert response.status_code == 302
    revision.refresh_from_db()
    assert revision.note == "Corrected note." and revision.made_at == top_list.published_at
    assert [h.note for h in revision.history.order_by("history_date")][-1] == "Corrected note."
    assert client.get("/admin/editorial/revision/add/").status_code == 403


# --- create_editor ---------------------------------------------------------------------------


def test_create_editor_makes_a_staff_account_in_the_editors_group(editors_group, client):
    call_command("create_editor", "New.Editor@Example.com", "--password", "a long enough passphrase 42")

    user = User.objects.get(email="new.editor@example.com")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.all()) == [editors_group]
    assert client.login(email="new.editor@example.com", password="a long enough passphrase 42")
    assert client.get("/admin/editorial/toplist/").status_code == 200


def test_create_editor_refuses_a_weak_password_and_creates_nothing(editors_group):
    with pytest.raises(CommandError, match="Nothing was created"):
        call_command("create_editor", "weak@example.com", "--password", "123")
    assert not User.objects.filter(email="weak@example.com").exists()
    assert Group.objects.get(name="Editors").user_set.count() == 0


def test_describe_mode_says_how_to_make_an_editor():
    from io import StringIO

    out = StringIO()
    call_command("describe_mode", stdout=out)
    assert "python manage.py create_editor you@example.com" in out.getvalue()


def test_the_preview_of_a_published_list_shows_its_unpublished_edits(client, editor):
    tokens = make_tokens(3)
    top_list = published_list(tokens[:2])
    ListEntry.objects.create(top_list=top_list, token=tokens[2], rank=3)

    preview = client.get(f"/admin/editorial/toplist/{top_list.pk}/preview/").content.decode()
    public = client.get(top_list.get_absolute_url()).content.decode()

    assert f'data-token="{tokens[2].slug}"' in preview and "not yet published as a revision" in preview
    assert f'data-token="{tokens[2].slug}"' not in public
