"""Celery tasks for ratings: thin wrappers taking plain parameters.

``ratings.recompute`` is queued (on commit) after each data refresh with the tokens whose
facts changed. Ratings are percentile ranks, so one token's new figures move the others'
ranks too: the day is recomputed for the whole universe and every rating that changed is
written; ``token_ids`` say whether there is anything to do. Two recomputes never overlap —
a second one waits and retries rather than being dropped, so the newest data always gets
rated.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from celery import shared_task
from django.db import DatabaseError, transaction

from apps.tokens.locks import single_flight_lock
from apps.tokens.models import MetricSnapshot

from .services import ratings_recompute

logger = logging.getLogger(__name__)

SOFT_LIMIT = 10 * 60
HARD_LIMIT = SOFT_LIMIT + 60
LOCK_NAME = "ratings.recompute"
RETRY_WHILE_LOCKED_SECONDS = 30


class RecomputeBusy(Exception):
    """Another worker is recomputing ratings; try again shortly."""


@shared_task(
    bind=True,
    name="ratings.recompute",
    autoretry_for=(DatabaseError, ConnectionError, RecomputeBusy),
    retry_backoff=RETRY_WHILE_LOCKED_SECONDS,
    retry_jitter=True,
    max_retries=10,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
)
def recompute(self, token_ids: list[int] | None = None, day: str | None = None) -> dict:
    """Rate ``day`` (ISO date; default: the newest day with snapshots) after the facts of
    ``token_ids`` changed. An empty list means nothing changed: nothing to do."""
    if token_ids is not None and not token_ids:
        return {"skipped": True, "reason": "no token changed"}
    when = dt.date.fromisoformat(day) if day else _newest_snapshot_day()
    if when is None:
        return {"skipped": True, "reason": "no snapshot yet"}
    with single_flight_lock(LOCK_NAME, HARD_LIMIT, owner=getattr(self.request, "id", None) or uuid.uuid4().hex) as lock:
        if not lock:
            raise RecomputeBusy(f"ratings for {when} wait for a recompute in progress")
        result = ratings_recompute(day=when)
    logger.info("ratings for %s: %s", when, result)
    # Grade and signal alerts read the changes just written (on commit: after they are visible).
    from apps.watchlists.tasks import queue_evaluation  # watchlists imports ratings

    queue_evaluation(when)
    transaction.on_commit(warm_pages.delay)
    return {"day": when.isoformat(), "rated": result.rated, "written": result.written, "changes": result.changes}


def _newest_snapshot_day() -> dt.date | None:
    return MetricSnapshot.objects.order_by("-date").values_list("date", flat=True).first()


@shared_task(name="ratings.warm_pages", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def warm_pages() -> dict:
    """Sort what a reader's first look reads — home, the screener by each column, the
    leaderboard by each grade, the track record — after new ratings (which follow every
    refresh), so the first reader after a change does not pay for it (bench/README.md)."""
    from apps.tokens import selectors as token_selectors
    from apps.tokens.forms import ScreenerForm

    from . import selectors, track_record
    from .forms import LeaderboardForm

    token_selectors.home_sections()
    for sort in token_selectors.SCREENER_SORTS:
        form = ScreenerForm({"sort": sort})
        form.is_valid()
        token_selectors.screener_list(**form.selector_kwargs())
    as_of = selectors.ratings_as_of()
    for grade in ("investor", "trader"):
        form = LeaderboardForm({"grade": grade})
        form.is_valid()
        selectors.leaderboard_list(**form.selector_kwargs(), as_of=as_of)
    track_record.track_record(as_of=as_of)
    return {"screener": len(token_selectors.SCREENER_SORTS), "leaderboard": 2}
