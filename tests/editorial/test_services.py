"""Publishing Top 10 lists: the checks (clear errors, nothing written), revisions that keep
what they replaced, archiving, and the scheduled publish."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from apps.editorial import services
from apps.editorial.models import ListEntry, Revision, RevisionEntry, TopList
from apps.editorial.tasks import publish_due
from apps.tokens.models import Listing

from .conftest import PUBLISHED_AT, make_list, make_tokens, published_list, set_entries

pytestmark = pytest.mark.django_db


def refused(top_list: TopList, **kwargs) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        services.publish(top_list=top_list, editor=None, now=PUBLISHED_AT, **kwargs)
    return caught.value.messages


def assert_nothing_published(top_list: TopList) -> None:
    top_list.refresh_from_db()
    assert top_list.status == TopList.Status.DRAFT and top_list.published_at is None
    assert not Revision.objects.filter(top_list=top_list).exists()
    assert not RevisionEntry.objects.exists()


def test_publishing_makes_revision_one_with_a_copy_of_the_entries():
    tokens = make_tokens(3)
    top_list = make_list(tokens)

    revision = services.publish(top_list=top_list, editor=None, now=PUBLISHED_AT)

    top_list.refresh_from_db()
    assert (top_list.status, top_list.published_at) == (TopList.Status.PUBLISHED, PUBLISHED_AT)
    assert (revision.number, revision.made_at) == (1, PUBLISHED_AT)
    assert [(e.rank, e.token_id, e.blurb) for e in revision.entries.order_by("rank")] == [
        (1, tokens[0].pk, f"Why {tokens[0].symbol}"),
        (2, tokens[1].pk, f"Why {tokens[1].symbol}"),
        (3, tokens[2].pk, f"Why {tokens[2].symbol}"),
    ]


def test_an_eleventh_entry_is_refused():
    top_list = make_list(make_tokens(11))

    assert "The list has 11 entries: a Top 10 list holds at most 10." in refused(top_list)
    assert_nothing_published(top_list)


def test_a_gap_in_ranks_is_refused():
    top_list = make_list(make_tokens(3))
    ListEntry.objects.filter(top_list=top_list, rank=3).update(rank=4)

    assert "Ranks must run from 1 to 3 without a gap or a repeat; they are 1, 2, 4." in refused(top_list)
    assert_nothing_published(top_list)


def test_a_delisted_token_is_refused_by_name():
    tokens = make_tokens(2)
    tokens[1].listing = Listing.DELISTED
    tokens[1].save()
    top_list = make_list(tokens)

    assert f"{tokens[1].symbol} is delisted: remove it or choose another token." in refused(top_list)
    assert_nothing_published(top_list)


def test_duplicate_and_unknown_tokens_in_offered_entries_are_named():
    token = make_tokens(1)[0]
    entries = [
        services.EntryDraft(token_id=token.pk, rank=1),
        services.EntryDraft(token_id=token.pk, rank=2),
        services.EntryDraft(token_id=987654, rank=3),
    ]

    problems = services.entry_problems(entries)

    assert f"{token.symbol} is on the list twice: each token may appear once." in problems
    assert "Rank 3: no such token (token #987654)." in problems


def test_an_empty_list_and_missing_fields_are_refused_with_every_reason():
    top_list = TopList.objects.create(slug="empty", title="Empty", summary="", criteria=" ", sponsored=True)

    problems = refused(top_list)

    assert problems == [
        "The list needs a summary.",
        "The list needs criteria.",
        "The list is marked sponsored but names no sponsor.",
        "The list has no entries: add between 1 and 10.",
    ]
    assert_nothing_published(top_list)


def test_a_sponsored_entry_needs_its_sponsor():
    tokens = make_tokens(2)
    top_list = make_list(tokens)
    ListEntry.objects.filter(token=tokens[0]).update(sponsored=True)

    assert f"{tokens[0].symbol} is marked sponsored but names no sponsor." in refused(top_list)


def test_a_published_list_is_not_published_twice():
    top_list = published_list(make_tokens(2))

    assert refused(top_list) == ["“Best best” is published already: publish a revision instead."]
    assert Revision.objects.filter(top_list=top_list).count() == 1


def test_a_revision_keeps_the_entries_it_replaced():
    tokens = make_tokens(4)
    top_list = published_list(tokens[:3])
    set_entries(top_list, [tokens[0], tokens[3], tokens[1]])
    later = PUBLISHED_AT + dt.timedelta(days=30)

    revision = services.publish_revision(top_list=top_list, editor=None, note="Swap 2 for 3.", now=later)

    assert (revision.number, revision.made_at, revision.note) == (2, later, "Swap 2 for 3.")
    first, second = Revision.objects.filter(top_list=top_list).order_by("number")
    assert [e.token_id for e in first.entries.order_by("rank")] == [tokens[0].pk, tokens[1].pk, tokens[2].pk]
    assert [e.token_id for e in second.entries.order_by("rank")] == [tokens[0].pk, tokens[3].pk, tokens[1].pk]


def test_a_revision_needs_a_note_and_a_change():
    top_list = published_list(make_tokens(2))

    with pytest.raises(ValidationError, match="needs a note"):
        services.publish_revision(top_list=top_list, editor=None, note="  ")
    with pytest.raises(ValidationError, match="Nothing changed since revision 1"):
        services.publish_revision(top_list=top_list, editor=None, note="Again")
    assert Revision.objects.filter(top_list=top_list).count() == 1


def test_an_invalid_revision_writes_nothing():
    tokens = make_tokens(3)
    top_list = published_list(tokens[:2])
    ListEntry.objects.create(top_list=top_list, token=tokens[2], rank=5)

    with pytest.raises(ValidationError, match="without a gap"):
        services.publish_revision(top_list=top_list, editor=None, note="Add one")
    assert Revision.objects.filter(top_list=top_list).count() == 1
    assert RevisionEntry.objects.count() == 2


def test_archiving_keeps_the_list_public_and_dates_its_end():
    top_list = published_list(make_tokens(2))
    end = PUBLISHED_AT + dt.timedelta(days=90)

    services.archive(top_list=top_list, now=end)

    top_list.refresh_from_db()
    assert (top_list.status, top_list.archived_at, top_list.is_public) == (TopList.Status.ARCHIVED, end, True)
    with pytest.raises(ValidationError, match="only a published list takes revisions"):
        services.publish_revision(top_list=top_list, editor=None, note="Too late")


def test_deleting_an_entry_closes_the_ranks_up():
    tokens = make_tokens(3)
    top_list = make_list(tokens)
    ListEntry.objects.filter(top_list=top_list, rank=2).delete()

    services.entries_renumber(top_list=top_list)

    assert list(ListEntry.objects.filter(top_list=top_list).values_list("token_id", "rank")) == [
        (tokens[0].pk, 1),
        (tokens[2].pk, 2),
    ]


# --- Scheduled publishing ----------------------------------------------------------------


def scheduled(tokens, *, slug: str, at: dt.datetime) -> TopList:
    top_list = make_list(tokens, slug=slug)
    services.schedule(top_list=top_list, publish_at=at)
    return top_list


def test_the_beat_task_publishes_due_lists_and_leaves_the_others(django_capture_on_commit_callbacks):
    tokens = make_tokens(3)
    due = scheduled(tokens[:2], slug="due", at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    later = scheduled(tokens[1:], slug="later", at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))

    result = publish_due.delay().get()

    assert result == {"published": [due.pk], "failed": {}}
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == TopList.Status.PUBLISHED and due.revisions.get().note == "Published as scheduled."
    assert later.status == TopList.Status.SCHEDULED and not later.revisions.exists()
    assert publish_due.delay().get() == {"published": [], "failed": {}}  # a second run publishes nothing again


def test_a_scheduled_list_that_fails_its_checks_stays_scheduled_with_the_reason(caplog):
    tokens = make_tokens(2)
    tokens[0].listing = Listing.DELISTED
    tokens[0].save()
    top_list = scheduled(tokens, slug="broken", at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    result = services.publish_due()

    reason = f"{tokens[0].symbol} is delisted: remove it or choose another token."
    assert result.failed == {top_list.pk: reason}
    top_list.refresh_from_db()
    assert (top_list.status, top_list.schedule_error, top_list.published_at) == ("scheduled", reason, None)
    assert not Revision.objects.exists()
    assert "not published" in caplog.text and reason in caplog.text


def test_scheduling_needs_a_time_and_the_beat_entry_runs_the_task():
    from django.conf import settings

    top_list = make_list(make_tokens(1))
    with pytest.raises(ValidationError, match="Set a publish time"):
        services.schedule(top_list=top_list, publish_at=None)
    entry = settings.CELERY_BEAT_SCHEDULE["editorial-publish-due-every-minute"]
    assert entry["task"] == publish_due.name == "editorial.publish_due"


def test_the_tokens_of_published_lists_are_quoted_first():
    from apps.editorial.selectors import listed_token_ids
    from apps.tokens import budget

    tokens = make_tokens(4)
    top_list = published_list(tokens[:2])
    set_entries(top_list, [tokens[0], tokens[2]])
    services.publish_revision(top_list=top_list, editor=None, note="Swap", now=PUBLISHED_AT + dt.timedelta(days=1))
    make_list([tokens[3]], slug="draft")

    assert sorted(listed_token_ids()) == [tokens[0].pk, tokens[2].pk]
    assert budget.PRIORITY_SOURCES["editorial"] is listed_token_ids
