"""Writes for Top 10 lists: publishing, revisions, scheduling, archiving.

Every check a list must pass before readers see it lives in ``list_problems``; publishing
raises ``ValidationError`` with all of them and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.tokens.models import Listing, Token

from .models import MAX_ENTRIES, ListEntry, Revision, RevisionEntry, TopList

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryDraft:
    """An entry as offered for publishing: a working entry, or a form's row."""

    token_id: int | None
    rank: int | None
    blurb: str = ""
    sponsored: bool = False
    sponsor_name: str = ""


def _label(token: Token | None, token_id: int | None) -> str:
    return token.symbol.upper() if token is not None else f"token #{token_id}"


def entry_problems(entries: list[EntryDraft]) -> list[str]:
    """What stops these entries from being published, in words an editor can act on (one
    query for their tokens)."""
    problems: list[str] = []
    if not entries:
        return [f"The list has no entries: add between 1 and {MAX_ENTRIES}."]
    if len(entries) > MAX_ENTRIES:
        problems.append(f"The list has {len(entries)} entries: a Top 10 list holds at most {MAX_ENTRIES}.")
    ids = [e.token_id for e in entries if e.token_id is not None]
    tokens = Token.objects.only("symbol", "listing").in_bulk(ids)
    seen: set[int] = set()
    for entry in entries:
        token = tokens.get(entry.token_id) if entry.token_id is not None else None
        label = _label(token, entry.token_id)
        if token is None:
            problems.append(
                f"Rank {entry.rank}: no such token ({label})." if entry.token_id else f"Rank {entry.rank} has no token."
            )
            continue
        if entry.token_id in seen:
            problems.append(f"{label} is on the list twice: each token may appear once.")
        seen.add(entry.token_id)
        if token.listing == Listing.DELISTED:
            problems.append(f"{label} is delisted: remove it or choose another token.")
        if entry.sponsored and not entry.sponsor_name.strip():
            problems.append(f"{label} is marked sponsored but names no sponsor.")
    ranks = sorted(e.rank for e in entries if e.rank is not None)
    if len(ranks) != len(entries) or ranks != list(range(1, len(entries) + 1)):
        shown = ", ".join(str(r) for r in ranks) or "none"
        problems.append(f"Ranks must run from 1 to {len(entries)} without a gap or a repeat; they are {shown}.")
    return problems


def list_problems(top_list: TopList, entries: list[EntryDraft] | None = None) -> list[str]:
    """What stops the list (its fields and working entries, or ``entries``) from being published."""
    problems = [
        f"The list needs {what}."
        for what, value in (
            ("a title", top_list.title),
            ("a slug", top_list.slug),
            ("a summary", top_list.summary),
            ("criteria", top_list.criteria),
        )
        if not value.strip()
    ]
    if top_list.sponsored and not top_list.sponsor_name.strip():
        problems.append("The list is marked sponsored but names no sponsor.")
    if entries is None:
        entries = working_entries(top_list)
    return problems + entry_problems(entries)


def working_entries(top_list: TopList) -> list[EntryDraft]:
    return [
        EntryDraft(token_id=e.token_id, rank=e.rank, blurb=e.blurb, sponsored=e.sponsored, sponsor_name=e.sponsor_name)
        for e in ListEntry.objects.filter(top_list=top_list).order_by("rank", "pk")
    ]


def _snapshot(entries: list[EntryDraft]) -> list[tuple]:
    return sorted((e.rank, e.token_id, e.blurb, e.sponsored, e.sponsor_name) for e in entries)


def _locked(top_list: TopList) -> TopList:
    return TopList.objects.select_for_update().get(pk=top_list.pk)


def _make_revision(top_list: TopList, *, number: int, editor: User | None, note: str, now: dt.datetime) -> Revision:
    entries = working_entries(top_list)
    revision = Revision.objects.create(top_list=top_list, number=number, made_at=now, note=note, editor=editor)
    RevisionEntry.objects.bulk_create(
        RevisionEntry(
            revision=revision,
            token_id=e.token_id,
            rank=e.rank,
            blurb=e.blurb,
            sponsored=e.sponsored,
            sponsor_name=e.sponsor_name,
        )
        for e in entries
    )
    return revision


def _check(top_list: TopList) -> None:
    problems = list_problems(top_list)
    if problems:
        raise ValidationError(problems)


def publish(*, top_list: TopList, editor: User | None, note: str = "", now: dt.datetime | None = None) -> Revision:
    """Publish a draft or scheduled list: revision 1 from its working entries, in one
    transaction; ValidationError (every problem) and nothing written when it is not ready."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _locked(top_list)
        if current.status not in {TopList.Status.DRAFT, TopList.Status.SCHEDULED}:
            raise ValidationError(
                f"“{current.title}” is {current.get_status_display().lower()} already: publish a revision instead."
            )
        _check(current)
        revision = _make_revision(current, number=1, editor=editor, note=note.strip() or "First published.", now=now)
        current.status = TopList.Status.PUBLISHED
        current.published_at = now
        current.schedule_error = ""
        if editor is not None and current.author_id is None:
            current.author = editor
        current.save()
        if editor is not None:
            current.editors.add(editor)
    _copy_state(current, top_list)
    return revision


def publish_revision(*, top_list: TopList, editor: User | None, note: str, now: dt.datetime | None = None) -> Revision:
    """Publish the working entries of a published list as its next revision, with the
    editor's note on why; refused when the note is missing or nothing changed."""
    now = now or timezone.now()
    if not note.strip():
        raise ValidationError("A revision needs a note saying why the list changed.")
    with transaction.atomic():
        current = _locked(top_list)
        if current.status != TopList.Status.PUBLISHED:
            raise ValidationError(
                f"“{current.title}” is {current.get_status_display().lower()}: only a published list takes revisions."
            )
        _check(current)
        latest = Revision.objects.filter(top_list=current).order_by("-number").first()
        if latest is not None:
            before = [
                EntryDraft(e.token_id, e.rank, e.blurb, e.sponsored, e.sponsor_name) for e in latest.entries.all()
            ]
            if _snapshot(before) == _snapshot(working_entries(current)):
                raise ValidationError(f"Nothing changed since revision {latest.number}: edit the entries first.")
        number = (latest.number if latest else 0) + 1
        revision = _make_revision(current, number=number, editor=editor, note=note.strip(), now=now)
        if editor is not None:
            current.editors.add(editor)
        current.save(update_fields=["updated_at"])
    return revision


def schedule(*, top_list: TopList, publish_at: dt.datetime | None) -> TopList:
    """Set a draft to publish itself at ``publish_at``; it is checked then (``list_problems``
    says now what would stop it)."""
    if publish_at is None:
        raise ValidationError("Set a publish time on the list (and save it) before scheduling it.")
    with transaction.atomic():
        current = _locked(top_list)
        if current.status not in {TopList.Status.DRAFT, TopList.Status.SCHEDULED}:
            raise ValidationError(
                f"“{current.title}” is {current.get_status_display().lower()}: it cannot be scheduled."
            )
        current.status = TopList.Status.SCHEDULED
        current.publish_at = publish_at
        current.schedule_error = ""
        current.save()
    _copy_state(current, top_list)
    return top_list


def unschedule(*, top_list: TopList) -> TopList:
    with transaction.atomic():
        current = _locked(top_list)
        if current.status != TopList.Status.SCHEDULED:
            raise ValidationError(f"“{current.title}” is not scheduled.")
        current.status = TopList.Status.DRAFT
        current.schedule_error = ""
        current.save()
    _copy_state(current, top_list)
    return top_list


def archive(*, top_list: TopList, now: dt.datetime | None = None) -> TopList:
    """Archive a published list: it stays public, marked archived, its record ending now."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _locked(top_list)
        if current.status != TopList.Status.PUBLISHED:
            raise ValidationError(f"Only a published list can be archived; “{current.title}” is {current.status}.")
        current.status = TopList.Status.ARCHIVED
        current.archived_at = now
        current.save()
    _copy_state(current, top_list)
    return top_list


def entries_renumber(*, top_list: TopList) -> None:
    """Ranks 1..n in the working entries' order, closing the gaps a deleted row leaves."""
    entries = list(ListEntry.objects.filter(top_list=top_list).order_by("rank", "pk"))
    changed = [e for position, e in enumerate(entries, start=1) if e.rank != position]
    for position, entry in enumerate(entries, start=1):
        entry.rank = position
    for entry in changed:  # saved one by one so each change is on the entry's history
        entry.save(update_fields=["rank"])


@dataclass(frozen=True)
class DueResult:
    published: list[int]
    failed: dict[int, str]


def publish_due(*, now: dt.datetime | None = None) -> DueResult:
    """Publish every scheduled list whose time has come. One that fails its checks stays
    scheduled with the reason on ``schedule_error`` (and in the log); nothing of it is written."""
    now = now or timezone.now()
    published: list[int] = []
    failed: dict[int, str] = {}
    due = TopList.objects.filter(status=TopList.Status.SCHEDULED, publish_at__lte=now).order_by("publish_at", "pk")
    for top_list in due:
        try:
            publish(top_list=top_list, editor=None, note="Published as scheduled.", now=now)
        except ValidationError as exc:
            reason = " ".join(exc.messages)
            if not TopList.objects.filter(pk=top_list.pk, status=TopList.Status.SCHEDULED).update(
                schedule_error=reason
            ):
                continue  # another run published it meanwhile
            failed[top_list.pk] = reason
            logger.warning("Scheduled list %s (%s) not published: %s", top_list.pk, top_list.slug, reason)
        else:
            published.append(top_list.pk)
    return DueResult(published=published, failed=failed)


def _copy_state(source: TopList, target: TopList) -> None:
    if source is not target:
        for field in ("status", "published_at", "archived_at", "publish_at", "schedule_error", "author_id"):
            setattr(target, field, getattr(source, field))
