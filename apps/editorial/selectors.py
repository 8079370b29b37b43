"""Reads of Top 10 lists for the public pages, the preview and the feed.

Readers see a list's latest revision, never its working entries (the preview shows those to
editors). Each page reads the lists, their revisions and revision entries (with tokens and
their latest snapshots) and the current tokens' latest ratings in a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from apps.ratings.models import Rating
from apps.ratings.selectors import LEADERBOARD_MAX_AGE_DAYS, VERSION, ratings_as_of
from apps.tokens.models import MetricSnapshot, Token
from apps.tokens.selectors import data_status

from .models import ListEntry, Revision, RevisionEntry, TopList

PUBLIC_STATUSES = (TopList.Status.PUBLISHED, TopList.Status.ARCHIVED)


def public_lists() -> QuerySet[TopList]:
    """Published and archived lists; the sample's lists only while the sample data set is shown."""
    lists = TopList.objects.filter(status__in=PUBLIC_STATUSES)
    if data_status().mode != "sample":
        lists = lists.filter(is_sample=False)
    return lists


def _with_revisions(lists: QuerySet[TopList]) -> QuerySet[TopList]:
    entries = RevisionEntry.objects.select_related("token", "token__latest_snapshot").order_by("rank")
    return lists.prefetch_related(
        Prefetch(
            "revisions",
            queryset=Revision.objects.select_related("editor")
            .prefetch_related(Prefetch("entries", queryset=entries))
            .order_by("number"),
        )
    )


def public_list(slug: str) -> TopList:
    """A list a reader may see, with its revisions; a draft, scheduled or unknown one is a 404."""
    top_list = _with_revisions(public_lists().filter(slug=slug)).first()
    if top_list is None:
        raise Http404("No such list")
    return top_list


def listed_token_ids() -> list[int]:
    """The tokens on the latest revision of every published list."""
    newest = Revision.objects.filter(top_list=OuterRef("revision__top_list")).order_by("-number").values("number")[:1]
    return list(
        RevisionEntry.objects.filter(
            revision__top_list__status=TopList.Status.PUBLISHED, revision__number=Subquery(newest)
        )
        .order_by()
        .values_list("token_id", flat=True)
        .distinct()
    )


def latest_ratings(token_ids: Iterable[int]) -> dict[int, Rating]:
    """Each token's latest rating, when recent enough for the leaderboard (one query)."""
    ids = list(token_ids)
    if not ids:
        return {}
    as_of = ratings_as_of()
    ratings = Rating.objects.filter(methodology_version=VERSION, latest__isnull=False, token_id__in=ids)
    if as_of.date is not None:
        ratings = ratings.filter(date__gte=as_of.date - dt.timedelta(days=LEADERBOARD_MAX_AGE_DAYS))
    return {r.token_id: r for r in ratings.defer("inputs", "components")}


@dataclass(frozen=True)
class EntryRow:
    """An entry of the list as shown: the revision's (or, in preview, the working) entry."""

    entry: RevisionEntry | ListEntry
    token: Token
    snapshot: MetricSnapshot | None
    rating: Rating | None
    joined: dt.date | None  # None: not yet published (preview)
    change: Decimal | None = None  # price change since joined, from the list's record

    @property
    def investor_grade(self) -> str:
        return self.rating.investor_grade if self.rating else ""

    @property
    def trader_grade(self) -> str:
        return self.rating.trader_grade if self.rating else ""


@dataclass(frozen=True)
class RevisionRow:
    revision: Revision
    entries: list[RevisionEntry]
    joined: list[RevisionEntry]
    dropped: list[RevisionEntry]  # entries of the revision before that this one left out


def revision_rows(revisions: list[Revision]) -> list[RevisionRow]:
    """Each revision with the tokens it added and dropped, oldest first."""
    rows: list[RevisionRow] = []
    before: dict[int, RevisionEntry] = {}
    for revision in revisions:
        entries = list(revision.entries.all())
        now = {e.token_id: e for e in entries}
        rows.append(
            RevisionRow(
                revision=revision,
                entries=entries,
                joined=[e for e in entries if e.token_id not in before],
                dropped=[e for token_id, e in before.items() if token_id not in now],
            )
        )
        before = now
    return rows


def memberships(revisions: list[Revision]) -> list[tuple[dt.date, list[int]]]:
    """The list's token ids by revision day, the input of the performance record."""
    return [(r.made_at.date(), [e.token_id for e in r.entries.all()]) for r in revisions]


def joined_dates(rows: list[RevisionRow]) -> dict[int, dt.date]:
    """When each token of the newest revision joined (its latest joining, if it left and came back)."""
    joined: dict[int, dt.date] = {}
    for row in rows:
        current = {e.token_id for e in row.entries}
        joined = {t: d for t, d in joined.items() if t in current}
        for entry in row.joined:
            joined[entry.token_id] = row.revision.made_at.date()
    return joined


@dataclass
class ListPage:
    top_list: TopList
    entries: list[EntryRow]
    revisions: list[RevisionRow]  # oldest first
    ratings_as_of: dt.date | None
    price_as_of: dt.datetime | None
    preview: bool = False
    record: object | None = None  # the performance record, when computed
    chart: dict = field(default_factory=dict)

    @property
    def latest(self) -> Revision | None:
        return self.revisions[-1].revision if self.revisions else None

    @property
    def revisions_newest_first(self) -> list[RevisionRow]:
        return self.revisions[::-1]

    @property
    def sponsored_entries(self) -> list[EntryRow]:
        return [row for row in self.entries if row.entry.sponsored]


def list_page(top_list: TopList, *, preview: bool = False) -> ListPage:
    """The list's page: the latest revision's entries (``preview``: the working entries) with
    live grades and figures, and the dated revisions with entries and exits."""
    rows = revision_rows(list(top_list.revisions.all()))
    joined = joined_dates(rows)
    if preview:
        entries: list[RevisionEntry | ListEntry] = list(
            ListEntry.objects.filter(top_list=top_list)
            .select_related("token", "token__latest_snapshot")
            .order_by("rank", "pk")
        )
    else:
        entries = rows[-1].entries if rows else []
    ratings = latest_ratings(e.token_id for e in entries)
    entry_rows = [
        EntryRow(
            entry=e,
            token=e.token,
            snapshot=e.token.latest_snapshot,
            rating=ratings.get(e.token_id),
            joined=joined.get(e.token_id),
        )
        for e in entries
    ]
    price_as_of = max(
        (r.snapshot.price_as_of for r in entry_rows if r.snapshot and r.snapshot.price_as_of), default=None
    )
    return ListPage(
        top_list=top_list,
        entries=entry_rows,
        revisions=rows,
        ratings_as_of=ratings_as_of().date,
        price_as_of=price_as_of,
        preview=preview,
    )


@dataclass(frozen=True)
class ListCard:
    top_list: TopList
    latest: Revision | None
    entries: list[RevisionEntry]
    revisions: int
    record: object | None = None


def index_cards() -> list[ListCard]:
    """Every public list with its latest revision's entries: three queries for any number
    of lists and revisions."""
    # "published" sorts after "archived": descending puts the live lists first.
    lists = list(_with_revisions(public_lists()).order_by("-status", "-published_at", "title"))
    cards = []
    for top_list in lists:
        revisions = list(top_list.revisions.all())
        latest = revisions[-1] if revisions else None
        cards.append(
            ListCard(
                top_list=top_list,
                latest=latest,
                entries=list(latest.entries.all()) if latest else [],
                revisions=len(revisions),
            )
        )
    return cards


def preview_list(pk: int) -> TopList:
    top_list = _with_revisions(TopList.objects.filter(pk=pk)).first()
    if top_list is None:
        raise Http404("No such list")
    return top_list
