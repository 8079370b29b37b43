"""Editors write a day's note in the admin (the author is recorded); a note cannot go into a
briefing already sent; briefings are read-only there."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.briefings.models import Briefing, EditorNote
from tests.factories import UserFactory

from .conftest import DAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, editors_group):
    user = UserFactory(email="editor@example.com", is_staff=True, display_name="Ed")
    user.groups.add(editors_group)
    client.force_login(user)
    return user


def test_an_editor_writes_a_note_and_is_its_author(client, editor):
    response = client.post("/admin/briefings/editornote/add/", {"date": "2026-11-20", "text": "Buybacks led."})
    assert response.status_code == 302
    note = EditorNote.objects.get(date=DAY)
    assert (note.text, note.author) == ("Buybacks led.", editor)
    assert client.get("/admin/briefings/editornote/").status_code == 200
    assert client.get(f"/admin/briefings/editornote/{note.pk}/change/").status_code == 200


def test_a_note_for_a_sent_briefing_is_refused_and_its_old_note_is_read_only(client, editor):
    Briefing.objects.create(date=DAY, status=Briefing.Status.SENT, built_at=dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC))
    response = client.post("/admin/briefings/editornote/add/", {"date": "2026-11-20", "text": "Too late."})
    assert response.status_code == 200 and "already sent" in response.content.decode()
    assert not EditorNote.objects.exists()

    note = EditorNote.objects.create(date=DAY, text="Sent with it.")
    client.post(f"/admin/briefings/editornote/{note.pk}/change/", {"date": "2026-11-20", "text": "Changed."})
    note.refresh_from_db()
    assert note.text == "Sent with it."


def test_editors_read_briefings_but_cannot_change_them(client, editor):
    briefing = Briefing.objects.create(date=DAY, built_at=dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC))
    assert client.get("/admin/briefings/briefing/").status_code == 200
    assert client.get("/admin/briefings/briefing/add/").status_code == 403
    client.post(f"/admin/briefings/briefing/{briefing.pk}/change/", {"status": "sent"})
    briefing.refresh_from_db()
    assert briefing.status == Briefing.Status.DRAFT


def test_an_editor_previews_a_draft_briefing_readers_cannot_see(client, editor, day_data):
    from apps.briefings import services

    briefing = services.briefing_build(day=DAY, now=dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC))
    listing = client.get("/admin/briefings/briefing/").content.decode()
    assert f"/admin/briefings/briefing/{briefing.pk}/preview/" in listing

    page = client.get(f"/admin/briefings/briefing/{briefing.pk}/preview/")
    html = page.content.decode()
    assert page.status_code == 200 and "Preview — not public." in html and "without an editor's note yet" in html
    assert 'href="/tokens/uptoken/"' in html
    client.logout()
    assert client.get("/briefings/2026-11-20/").status_code == 404
    assert client.get(f"/admin/briefings/briefing/{briefing.pk}/preview/").status_code == 302  # to the login


def test_a_reader_cannot_preview(client, day_data):
    from apps.briefings import services

    briefing = services.briefing_build(day=DAY, now=dt.datetime(2026, 11, 20, 7, 5, tzinfo=dt.UTC))
    client.force_login(UserFactory(is_staff=True))  # staff without the Editors' permissions
    assert client.get(f"/admin/briefings/briefing/{briefing.pk}/preview/").status_code == 403
