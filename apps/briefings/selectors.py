"""Reads for the briefing pages, the feed and the emails."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.http import Http404

from apps.accounts.models import User
from apps.tokens.selectors import data_status
from apps.watchlists.models import WatchlistItem

from .models import Briefing

# (section key, heading, the figure's name): the two movers' tables share a template.
MOVERS = (
    ("revenue_movers", "Revenue movers", "30-day revenue"),
    ("holders_revenue_movers", "Holders revenue movers", "30-day holders revenue"),
)
PUBLIC_STATUSES = (Briefing.Status.READY, Briefing.Status.SENT)


def public_briefings() -> QuerySet[Briefing]:
    """Ready and sent briefings, newest first; the sample's only while the sample data set is shown."""
    briefings = Briefing.objects.filter(status__in=PUBLIC_STATUSES).order_by("-date")
    if data_status().mode != "sample":
        briefings = briefings.filter(is_sample=False)
    return briefings


def archive_page(number: Any) -> Page:
    """One page of the archive: each briefing's date and one-line summary, without its sections."""
    rows = public_briefings().defer("sections").annotate(summary=F("sections__summary"))
    return Paginator(rows, settings.BRIEFING_ARCHIVE_PAGE_SIZE).get_page(number)


def public_briefing(day: str) -> Briefing:
    """The briefing of ``day`` ("YYYY-MM-DD") a reader may see; anything else is a 404."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise Http404("No such briefing") from None
    briefing = public_briefings().filter(date=date).first()
    if briefing is None:
        raise Http404("No such briefing")
    return briefing


def briefing_to_send(day: str) -> Briefing | None:
    """The ready or sent briefing of ``day`` ("YYYY-MM-DD"), sample or not; None otherwise."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        return None
    return Briefing.objects.filter(date=date, status__in=PUBLIC_STATUSES).first()


def watchers_of(briefing: Briefing) -> dict[int, set[str]]:
    """Each user whose watchlists hold tokens the briefing mentions: those tokens' slugs (one query)."""
    rows = WatchlistItem.objects.filter(token__slug__in=list(briefing.sections.get("watch", {})))
    watchers: dict[int, set[str]] = defaultdict(set)
    for user_id, slug in rows.values_list("watchlist__user_id", "token__slug"):
        watchers[user_id].add(slug)
    return dict(watchers)


def watched_slugs(user: User | None) -> set[str]:
    """The slugs of the tokens on any of ``user``'s watchlists (one query)."""
    if user is None or not user.is_authenticated:
        return set()
    return set(WatchlistItem.objects.filter(watchlist__user=user).values_list("token__slug", flat=True))


def watch_section(briefing: Briefing, slugs: set[str]) -> list[dict]:
    """The briefing's figures about the reader's own tokens, by symbol."""
    watch = briefing.sections.get("watch", {})
    rows = [{"slug": slug, **watch[slug]} for slug in slugs if slug in watch]
    return sorted(rows, key=lambda r: (r["symbol"], r["slug"]))
