"""Celery tasks: thin wrappers that take plain parameters and call the refresh services.

A refresh never overlaps itself: each takes its single-flight lock (``locks``; Redis in full
mode) and skips if another worker, or ``refresh_data``, holds it. Provider failures are recorded on the
SyncRun by the service and not retried here (the next scheduled run tries again);
database hiccups are retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction

from apps.ratings.tasks import RecomputeBusy
from apps.ratings.tasks import recompute as ratings_recompute
from apps.watchlists.tasks import queue_evaluation as queue_alerts

from . import budget, history, refresh, snapshots, universe
from .locks import FlightLock, single_flight_lock

logger = logging.getLogger(__name__)

SOFT_LIMIT = 15 * 60
HARD_LIMIT = SOFT_LIMIT + 60
# A provider call may take minutes with its retries and rate-limit waits (PROVIDERS.md).
DEADLINE_MARGIN = 5 * 60
TRANSIENT = (DatabaseError, ConnectionError)


LOCK_TTLS: dict[str, int] = {}  # refresh task name -> its lock's TTL (its hard time limit)


def refresh_lock(name: str, *, owner: str | None = None) -> AbstractContextManager[FlightLock]:
    """The single-flight lock of the refresh task ``name`` (``refresh_markets``, …): the task
    takes it, and so does ``refresh_data`` before running the same refresh in the foreground."""
    return single_flight_lock(name, LOCK_TTLS[name], owner=owner)


def single_flight(name: str, timeout: int = HARD_LIMIT) -> Callable:
    """Run the wrapped (bound) task only if no other worker runs it now.

    The lock's owner is the task id: when a worker is killed mid-task, the broker redelivers
    the same message (same id) and the re-run takes over its own lock; any other run is
    skipped until the lock expires after ``timeout`` seconds (the hard time limit).
    """
    LOCK_TTLS[name] = timeout

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(task, *args, **kwargs):
            with refresh_lock(name, owner=getattr(task.request, "id", None) or uuid.uuid4().hex) as lock:
                if not lock:
                    logger.info("%s is already running elsewhere; skipped", name)
                    return {"skipped": True}
                return func(task, *args, **kwargs)

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
    """The task's result; ``remaining``: tokens a run stopped by its budget or deadline left
    for the next (its run succeeded, and records the same number)."""
    refresh_followup(changed_tokens=result.changed_tokens)
    run = result.run
    return {
        "run": run.pk,
        "status": run.status,
        "rows": run.rows_written,
        "tokens": len(result.changed_tokens),
        "calls": result.calls,
        "remaining": result.remaining,
    }


def _deadline(task) -> float:
    """When a history job stops starting fetches: early enough before the soft time limit
    that the fetch under way (retries and rate-limit waits included) and its chunk's write
    still finish, so the run ends cleanly instead of being cut off."""
    soft_limit = task.soft_time_limit or SOFT_LIMIT
    return time.monotonic() + soft_limit - min(DEADLINE_MARGIN, soft_limit / 3)


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
    self,
    token_ids: list[int] | None = None,
    backfill_days: int = history.DEFAULT_BACKFILL_DAYS,
    max_calls: int | None = None,
) -> dict:
    provider = refresh.market_provider()
    if token_ids is None and backfill_days == history.DEFAULT_BACKFILL_DAYS and max_calls is None:
        return _summary_or_skip(budget.history_run(provider=provider, deadline=_deadline(self)))  # the plan's calls
    result = history.price_history_refresh(
        provider=provider,
        token_ids=token_ids,
        backfill_days=backfill_days,
        max_calls=max_calls,
        deadline=_deadline(self),
    )
    return _summary(result)


@refresh_task("refresh_revenue", soft_limit=SOFT_LIMIT * 2)
def refresh_revenue(
    self, token_ids: list[int] | None = None, backfill: bool = False, max_calls: int | None = None
) -> dict:
    provider = refresh.revenue_provider()
    if token_ids is None and not backfill and max_calls is None:
        return _summary_or_skip(budget.revenue_run(provider=provider, deadline=_deadline(self)))  # the plan's calls
    result = history.revenue_refresh(
        provider=provider, token_ids=token_ids, backfill=backfill, max_calls=max_calls, deadline=_deadline(self)
    )
    return _summary(result)


@refresh_task("refresh_mapping")
def refresh_mapping(self) -> dict:
    return _summary(refresh.mapping_refresh(provider=refresh.revenue_provider()))


@refresh_task("refresh_universe")
def refresh_universe(self, size: int | None = None) -> dict:
    if settings.ACCRUAL_DATA_MODE != "live":  # the sample's universe is its catalogue
        logger.info("universe refresh skipped: %s", universe.SAMPLE_REFUSAL)
        return {"skipped": True, "reason": universe.SAMPLE_REFUSAL}
    return _summary(
        universe.universe_refresh(
            market_provider=refresh.market_provider(), revenue_provider=refresh.revenue_provider(), size=size
        )
    )


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


REFRESH_TASKS = {  # SyncRun kind -> the task that refreshes it (the admin and refresh_data use it)
    "mapping": refresh_mapping,
    "markets": refresh_markets,
    "price-history": refresh_price_history,
    "revenue-history": refresh_revenue,
    "universe": refresh_universe,
}


def kind_lock(kind: str) -> AbstractContextManager[FlightLock]:
    """The single-flight lock of the refresh task of the SyncRun ``kind``, which
    ``refresh_data`` takes before running the same refresh in the foreground."""
    return refresh_lock(REFRESH_TASKS[kind].name.removeprefix("tokens."))  # refresh_task's lock name
