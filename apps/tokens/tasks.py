"""Celery tasks: thin wrappers that take plain parameters and call the refresh services.

A refresh never overlaps itself: each takes a lock in the shared cache (Redis in full
mode) and skips if another worker holds it. Provider failures are recorded on the
SyncRun by the service and not retried here (the next scheduled run tries again);
database hiccups are retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, transaction

from apps.ratings.tasks import RecomputeBusy
from apps.ratings.tasks import recompute as ratings_recompute
from apps.watchlists.tasks import queue_evaluation as queue_alerts

from . import budget, refresh, snapshots

logger = logging.getLogger(__name__)

SOFT_LIMIT = 15 * 60
HARD_LIMIT = SOFT_LIMIT + 60
TRANSIENT = (DatabaseError, ConnectionError)


def single_flight(name: str, timeout: int = HARD_LIMIT) -> Callable:
    """Run the wrapped (bound) task only if no other worker runs it now.

    The lock holds the task id: when a worker is killed mid-task, the broker redelivers the
    same message (same id) and the re-run may take over its own lock; any other run is
    skipped until the lock expires after ``timeout`` seconds (the hard time limit).
    """

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(task, *args, **kwargs):
            key = f"accrual:lock:{name}"
            holder = getattr(task.request, "id", None) or uuid.uuid4().hex
            if not cache.add(key, holder, timeout) and cache.get(key) != holder:
                logger.info("%s is already running elsewhere; skipped", name)
                return {"skipped": True}
            cache.set(key, holder, timeout)
            try:
                return func(task, *args, **kwargs)
            finally:
                if cache.get(key) == holder:
                    cache.delete(key)

        return wrapper

    return decorator


def refresh_followup(*, changed_tokens: set[int], foreground: bool = False) -> dict | None:
    """What follows every refresh, whichever way it ran, so both leave the same state: the
    refresh services wrote the facts, snapshots and reports; the ratings follow the facts —
    the newest day is rated again when a token changed. A worker queues that once its work
    is committed; a command (``foreground``) runs it here and now and returns its summary."""
    if not changed_tokens:
        return None
    changed = sorted(changed_tokens)
    # Price and revenue alerts read the new snapshots; grade alerts wait for the ratings.
    queue_alerts()
    if not foreground:
        transaction.on_commit(lambda: ratings_recompute.delay(changed))
        return None
    try:
        return ratings_recompute(changed)
    except RecomputeBusy:  # a worker is rating right now: it waits its turn there instead
        transaction.on_commit(lambda: ratings_recompute.delay(changed))
        return {"queued": True}


def _summary(result: refresh.RefreshResult) -> dict:
    refresh_followup(changed_tokens=result.changed_tokens)
    run = result.run
    return {"run": run.pk, "status": run.status, "rows": run.rows_written, "tokens": len(result.changed_tokens)}


def _summary_or_skip(result: refresh.RefreshResult | None) -> dict:
    return _summary(result) if result else {"skipped": True, "reason": "the request budget has no call for it now"}


def refresh_task(name: str, *, soft_limit: int = SOFT_LIMIT) -> Callable:
    """A refresh task: bound, single-flight, soft and hard time limits, database hiccups
    retried with jittered backoff."""

    def decorator(func: Callable):
        return shared_task(
            bind=True,
            name=f"tokens.{name}",
            autoretry_for=TRANSIENT,
            retry_backoff=True,
            retry_jitter=True,
            max_retries=3,
            soft_time_limit=soft_limit,
            time_limit=soft_limit + 60,
        )(single_flight(name, timeout=soft_limit + 60)(func))

    return decorator


@refresh_task("refresh_markets")
def refresh_markets(self, token_ids: list[int] | None = None) -> dict:
    """The scheduled run quotes the tokens the request budget says are due; given ids, those."""
    provider = refresh.market_provider()
    if token_ids is not None:
        return _summary(refresh.market_refresh(provider=provider, token_ids=token_ids))
    return _summary_or_skip(budget.markets_run(provider=provider))


@refresh_task("refresh_price_history", soft_limit=SOFT_LIMIT * 2)
def refresh_price_history(
    self, token_ids: list[int] | None = None, backfill_days: int = refresh.DEFAULT_BACKFILL_DAYS
) -> dict:
    provider = refresh.market_provider()
    if token_ids is None and backfill_days == refresh.DEFAULT_BACKFILL_DAYS:
        return _summary_or_skip(budget.history_run(provider=provider))  # within the plan's calls
    result = refresh.price_history_refresh(provider=provider, token_ids=token_ids, backfill_days=backfill_days)
    return _summary(result)


@refresh_task("refresh_revenue", soft_limit=SOFT_LIMIT * 2)
def refresh_revenue(self, token_ids: list[int] | None = None, backfill: bool = False) -> dict:
    provider = refresh.revenue_provider()
    if token_ids is None and not backfill:
        return _summary_or_skip(budget.revenue_run(provider=provider))  # within the plan's calls
    return _summary(refresh.revenue_refresh(provider=provider, token_ids=token_ids, backfill=backfill))


@refresh_task("refresh_mapping")
def refresh_mapping(self) -> dict:
    return _summary(refresh.mapping_refresh(provider=refresh.revenue_provider()))


@shared_task(
    name="tokens.recompute_snapshots",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
)
def recompute_snapshots(token_ids: list[int] | None = None, since: str | None = None) -> int:
    return snapshots.snapshots_recompute(token_ids=token_ids, since=dt.date.fromisoformat(since) if since else None)


REFRESH_TASKS = {
    "mapping": refresh_mapping,
    "markets": refresh_markets,
    "price-history": refresh_price_history,
    "revenue-history": refresh_revenue,
}
