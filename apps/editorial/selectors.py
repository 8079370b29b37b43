"""Reads of Top 10 lists for the public pages, the preview and the feed.

Readers see a list's latest revision, never its working entries (the preview shows those to
editors). Each page reads the lists, their revisions and revision entries (with tokens and
their latest snapshots) and the current tokens' latest ratings in a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.core.cache import cache
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from apps.ratings.models import Rating
from apps.ratings.selectors import LEADERBOARD_MAX_AGE_DAYS, VERSION, ratings_as_of
from apps.tokens.metrics import rounded
from apps.tokens.models import MetricSnapshot, Token
from apps.tokens.selectors import data_status
from apps.tokens.snapshots import RATIO_LIMIT, RATIO_PLACES

from . import performance
from .models import ListEntry, Revision, RevisionEntry, TopList
from .performance import Record

RECORDS_CACHE_SECONDS = 3600  # the key is what retires an entry; the expiry frees old ones
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


def revision_memberships(revisions: list[Revision]) -> list[tuple[dt.date, list[int]]]:
    """The list's token ids by revision day, the input of the performance record."""
    return [(r.made_at.date(), [e.token_id for e in r.entries.all()]) for r in revisions]


def _ended(record: Record, day: dt.date) -> Record:
    """An archived list's record cut at its archiving day: the list is flat after it (nothing
    held), so only the universe's series and return need cutting."""
    if not record.days or day >= record.days[-1]:
        return record
    kept = max(bisect_right(record.days, day), 1)
    universe = record.universe_index[:kept]
    return replace(
        record,
        end=day,
        days=record.days[:kept],
        list_index=record.list_index[:kept],
        universe_index=universe,
        universe_return=(
            rounded(Decimal(repr(universe[-1])) - 1, RATIO_PLACES, RATIO_LIMIT)
            if record.universe_return is not None
            else None
        ),
        as_of=min(record.as_of, day) if record.as_of else None,
    )


def list_records(lists: Iterable[TopList], *, today: dt.date | None = None) -> dict[int, Record]:
    """Each published list's record since its first revision (lists with their revisions
    prefetched): entries held from the revision that added them to the one that dropped
    them, an archived list's to its archiving. A fixed number of queries for any number."""
    inputs: dict[int, tuple[list[performance.Holding], dt.date]] = {}
    ends: dict[int, dt.date] = {}
    for top_list in lists:
        revisions = list(top_list.revisions.all())
        if not revisions:
            continue
        end = (
            top_list.archived_at.date() if top_list.status == TopList.Status.ARCHIVED and top_list.archived_at else None
        )
        if end is not None:
            end = max(end, revisions[-1].made_at.date())
            ends[top_list.pk] = end
        holdings = performance.memberships(revision_memberships(revisions), end=end)
        inputs[top_list.pk] = (holdings, revisions[0].made_at.date())
    if not inputs:
        return {}
    last = max([today or timezone.now().date(), *(start for _, start in inputs.values())])
    # Kept until the prices (the data's generation) or the ratings (the universe) move, or the
    # lists do (their holdings are in the key): reading and chaining the prices is most of a page.
    as_of = ratings_as_of()
    stamp = as_of.computed_at.timestamp() if as_of.computed_at else 0
    lists_key = hashlib.sha256(repr((sorted(inputs.items()), sorted(ends.items()), last)).encode()).hexdigest()
    key = f"editorial:records:{data_status().generation}:{as_of.date}:{stamp}:{lists_key}"
    records = cache.get(key)
    if records is None:
        records = performance.records(inputs, end=last)
        cache.set(key, records, RECORDS_CACHE_SECONDS)
    return {pk: _ended(record, ends[pk]) if pk in ends else record for pk, record in records.items()}


def record_chart(record: Record | None) -> dict:
    """The chart's two lines, as the change since publication in percent; {} with under two days."""
    if record is None or len(record.days) < 2:
        return {}
    times = [day.isoformat() for day in record.days]
    return {
        "lines": [
            {
                "key": key,
                "points": [{"time": t, "value": round((v - 1) * 100, 4)} for t, v in zip(times, series, strict=True)],
            }
            for key, series in (("list", record.list_index), ("universe", record.universe_index))
        ]
    }


@dataclass(frozen=True)
class PastHolding:
    """A stay on the list that ended: the token, its entry and exit days, its change between."""

    token: Token
    joined: dt.date
    exited: dt.date
    change: Decimal | None


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
    record: Record | None = None  # None: not published yet
    chart: dict = field(default_factory=dict)
    past: list[PastHolding] = field(default_factory=list)  # newest exit first

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
    live grades and figures and their change since joining, the list's record against the
    rated universe, the entries it dropped, and the dated revisions with entries and exits."""
    revisions = list(top_list.revisions.all())
    rows = revision_rows(revisions)
    joined = joined_dates(rows)
    if preview:
        entries: list[RevisionEntry | ListEntry] = list(
            ListEntry.objects.filter(top_list=top_list)
            .select_related("token", "token__latest_snapshot")
            .order_by("rank", "pk")
        )
    else:
        entries = rows[-1].entries if rows else []
    record = list_records([top_list]).get(top_list.pk)
    holdings = record.holdings if record else {}
    ratings = latest_ratings(e.token_id for e in entries)
    entry_rows = []
    for e in entries:
        held = holdings.get((e.token_id, joined[e.token_id])) if e.token_id in joined else None
        entry_rows.append(
            EntryRow(
                entry=e,
                token=e.token,
                snapshot=e.token.latest_snapshot,
                rating=ratings.get(e.token_id),
                joined=joined.get(e.token_id),
                change=held.change if held else None,
            )
        )
    tokens = {e.token_id: e.token for r in rows for e in r.entries}
    past = sorted(
        (
            PastHolding(token=tokens[h.token_id], joined=h.joined, exited=h.exited, change=h.change)
            for h in holdings.values()
            if h.exited is not None and h.token_id in tokens
        ),
        key=lambda p: (p.exited, p.joined),
        reverse=True,
    )
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
        record=record,
        chart=record_chart(record),
        past=past,
    )


@dataclass(frozen=True)
class ListCard:
    top_list: TopList
    latest: Revision | None
    entries: list[RevisionEntry]
    revisions: int
    record: Record | None = None


def index_cards() -> list[ListCard]:
    """Every public list with its latest revision's entries: three queries for any number
    of lists and revisions."""
    # "published" sorts after "archived": descending puts the live lists first.
    lists = list(_with_revisions(public_lists()).order_by("-status", "-published_at", "title"))
    records = list_records(lists)
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
                record=records.get(top_list.pk),
            )
        )
    return cards


def preview_list(pk: int) -> TopList:
    top_list = _with_revisions(TopList.objects.filter(pk=pk)).first()
    if top_list is None:
        raise Http404("No such list")
    return top_list
