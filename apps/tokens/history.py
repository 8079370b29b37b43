"""The history jobs: price history and revenue history, and which tokens they fetch.

Each day's price comes from the market refresh's quotes (``refresh``); the history jobs fill
only the gaps — a token's first year (``price_history_at`` empty), days the quotes missed —
and revenue fetches only what DefiLlama's overview cannot vouch for. Their work is cut into
chunks that commit with each token's ``*_history_at``, so a run stopped by its call budget,
its deadline or a dead worker is continued by the next.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction
from django.db.models import F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import revenue_reports, services, snapshots
from .data_set import DataSetConflict, data_set_claim
from .models import PriceDay, RevenueDay, SyncRun, Token
from .providers.base import (
    PricePoint,
    ProviderCircuitOpenError,
    ProviderError,
    ProviderQuotaExhaustedError,
    RevenuePoint,
)
from .providers.defillama import DATA_TYPES
from .refresh import MarketProvider, RefreshResult, RevenueProvider, _finish, _refused, _source_of, data_set_of

logger = logging.getLogger(__name__)

# Providers revise their latest days (DefiLlama's adapters re-run); re-read this many.
REVISION_DAYS = 3
DEFAULT_BACKFILL_DAYS = 365
# Tokens fetched before their facts and snapshots are written together.
HISTORY_BATCH = 100
# How far back a day the market refresh missed is still fetched from the price history.
GAP_WINDOW_DAYS = 10
# DefiLlama answers one series a call: a protocol's history, or the overview, is three.
REVENUE_CALLS = len(DATA_TYPES)
ONE_DAY = dt.timedelta(days=1)

Progress = Callable[[int, int], None]


class Due(NamedTuple):
    """A token a history job fetches: ``since`` is the first day wanted, None for its whole
    history (a backfill)."""

    token_id: int
    key: str  # CoinGecko id or DefiLlama slug
    since: dt.date | None


def _newest_days(model: type[PriceDay] | type[RevenueDay], tokens) -> dict[int, dt.date]:
    """Each token's newest stored day: where an incremental fetch starts."""
    rows = model.objects.filter(token__in=tokens).values("token_id").annotate(d=Max("date"))
    return dict(rows.values_list("token_id", "d"))


def _fair_order(state: str) -> list:
    """Least recently attempted first: a token whose fetch failed counts as attempted then."""
    return [Coalesce(f"{state}_failed_at", f"{state}_at").asc(nulls_first=True), "pk"]


def _backfills(tokens: QuerySet[Token], key: str, state: str) -> list[Due]:
    """Tokens never backfilled (``<state>_at`` empty), largest market cap first; one whose
    backfill failed goes behind the rest (it stays due, so is retried when they are done)."""
    rows = (
        tokens.filter(**{f"{state}_at": None})
        .order_by(
            F(f"{state}_failed_at").asc(nulls_first=True),
            F("latest_snapshot__market_cap_usd").desc(nulls_last=True),
            "pk",
        )
        .values_list("pk", key)
    )
    return [Due(pk, value, None) for pk, value in rows]


def _alternate(first: list[Due], second: list[Due]) -> list[Due]:
    """One of each in turn, then the rest of the longer list."""
    turns = [item for pair in zip(first, second, strict=False) for item in pair]
    shorter = min(len(first), len(second))
    return turns + first[shorter:] + second[shorter:]


def _price_gaps(tokens: QuerySet[Token], today: dt.date) -> list[Due]:
    """Backfilled tokens missing a day's price since their last history fetch, within
    GAP_WINDOW_DAYS and after their first stored day, up to yesterday (today's price is the
    market refresh's); ``since`` is the first day missing. A day asked for once and still
    missing is not asked again (the provider had none)."""
    yesterday, window = today - ONE_DAY, today - dt.timedelta(days=GAP_WINDOW_DAYS)
    asked = tokens.filter(price_history_at__date__lt=today)
    stored: dict[int, set[dt.date]] = defaultdict(set)
    for token_id, day in (
        PriceDay.objects.filter(token__in=asked, date__range=(window, yesterday))
        .order_by()
        .values_list("token_id", "date")
    ):
        stored[token_id].add(day)
    first_day = PriceDay.objects.filter(token=OuterRef("pk")).order_by("date").values("date")[:1]
    gaps = []
    for pk, key, fetched_at, first in (
        asked.annotate(first=Subquery(first_day))
        .order_by(*_fair_order("price_history"))
        .values_list("pk", "coingecko_id", "price_history_at", "first")
    ):
        if first is None:
            continue
        day = max(window, fetched_at.astimezone(dt.UTC).date(), first + ONE_DAY)
        while day <= yesterday and day in stored[pk]:
            day += ONE_DAY
        if day <= yesterday:
            gaps.append(Due(pk, key, day))
    return gaps


def _history_refresh(
    *,
    provider: object,
    kind: str,
    state: str,
    due: list[Due],
    fetch: Callable[[Due], list],
    cost: Callable[[Due], int],
    upsert_many: Callable[..., Counter],
    after_write: Callable[[set[int]], None] | None = None,
    progress: Progress | None = None,
    max_calls: int | None = None,
    deadline: float | None = None,
    calls: int = 0,
) -> RefreshResult:
    """The loop both histories share. Per chunk of HISTORY_BATCH tokens: fetch each (outside
    any transaction) while the call budget and the deadline (``time.monotonic()``) allow,
    then write the chunk's facts, its snapshots and each token's ``<state>_at`` (or
    ``<state>_failed_at``, for a failed fetch) in one transaction. So a run that stops, or a
    worker killed mid-run, leaves each token complete or untouched, and the next run's
    ``due`` starts where it stopped; a chunk costs a fixed number of queries."""
    source = _source_of(provider)
    result = RefreshResult(run=services.sync_run_start(provider=source, kind=kind), calls=calls)
    rows = done = 0
    for start in range(0, len(due), HISTORY_BATCH):
        fetched: dict[int, list] = {}
        failed: list[int] = []
        stopped = False
        for item in due[start : start + HISTORY_BATCH]:
            over_budget = max_calls is not None and result.calls + cost(item) > max_calls
            if over_budget or (deadline is not None and time.monotonic() >= deadline):
                stopped = True
                break
            result.calls += cost(item)
            try:
                points = fetch(item)
            except (ProviderQuotaExhaustedError, ProviderCircuitOpenError) as exc:
                # The provider, not this token: stop, and leave the token as due as it was.
                result.calls -= cost(item)
                result.failures["run"] = f"{type(exc).__name__}: {exc}"
                stopped = True
                break
            except ProviderError as exc:
                result.failures[item.key] = f"{type(exc).__name__}: {exc}"
                failed.append(item.token_id)
            else:
                fetched[item.token_id] = [p for p in points if item.since is None or p.date >= item.since]
            done += 1
        try:
            with transaction.atomic():
                written = _history_write(provider, state, result.run, fetched, failed, upsert_many, after_write)
        except DataSetConflict as exc:  # the other set arrived meanwhile: this chunk not written
            result.remaining = len(due) - done + len(fetched) + len(failed)
            return _finish(result, provider, rows, pages=result.calls, error=str(exc))
        rows += sum(written.values())
        result.changed_tokens |= set(written)
        if progress:
            progress(done, len(due))
        if stopped:
            break
    result.remaining = len(due) - done
    return _finish(result, provider, rows, pages=result.calls)


def _history_write(
    provider: object,
    state: str,
    run: SyncRun,
    fetched: dict[int, list],
    failed: list[int],
    upsert_many: Callable[..., Counter],
    after_write: Callable[[set[int]], None] | None,
) -> Counter:
    """One chunk of a history job (inside its transaction): facts, snapshots, fetch times."""
    now = timezone.now()
    points = {token_id: found for token_id, found in fetched.items() if found}
    written = Counter()
    if points:
        written = upsert_many(points_by_token=points, source=_source_of(provider), sync_run=run, fetched_at=now)
    if written:
        data_set_claim(mode=data_set_of(provider))
        since = min(p.date for token_id in written for p in points[token_id])
        snapshots.snapshots_recompute(token_ids=list(written), since=since)
        if after_write:
            after_write(set(written))
    if fetched:
        Token.objects.filter(pk__in=list(fetched)).update(**{f"{state}_at": now, f"{state}_failed_at": None})
    if failed:
        Token.objects.filter(pk__in=failed).update(**{f"{state}_failed_at": now})
    return written


def price_history_refresh(
    *,
    provider: MarketProvider,
    token_ids: Sequence[int] | None = None,
    backfill_days: int = DEFAULT_BACKFILL_DAYS,
    max_calls: int | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> RefreshResult:
    """Daily prices where the market refresh's quotes leave gaps, one market_chart call a
    token: a token never backfilled gets ``backfill_days`` of history (whatever the market
    refresh stored first), the largest first; one missing recent days gets those days
    (``_price_gaps``), the least recently fetched first. At most ``max_calls`` calls, none
    started after ``deadline`` (a ``time.monotonic()`` value); the run's ``remaining``
    counts the tokens left for the next run."""
    if refused := _refused(provider, "price-history"):
        return refused
    today = today or timezone.now().date()
    tokens = Token.objects.quotable()
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    # Turn about: a backfill of thousands (weeks on a small plan) must not let the missed days
    # of backfilled tokens age out of the gap window, nor many gaps stall the backfill.
    due = _alternate(_backfills(tokens, "coingecko_id", "price_history"), _price_gaps(tokens, today))

    def fetch(item: Due) -> list[PricePoint]:
        days = backfill_days if item.since is None else (today - item.since).days + 1
        return provider.price_history(item.key, days=min(days, backfill_days))

    return _history_refresh(
        provider=provider,
        kind="price-history",
        state="price_history",
        due=due,
        fetch=fetch,
        cost=lambda item: 1,
        upsert_many=services.prices_upsert_many,
        progress=progress,
        max_calls=max_calls,
        deadline=deadline,
    )


def revenue_refresh(
    *,
    provider: RevenueProvider,
    token_ids: Sequence[int] | None = None,
    backfill: bool = False,
    max_calls: int | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> RefreshResult:
    """Daily fees, revenue and holders revenue per protocol (three calls a protocol).

    DefiLlama returns a protocol's whole history in one call per series, so a run first
    asks the overview — three calls for the whole universe — and takes yesterday's figures
    from it for every protocol it can vouch for (see ``_overview_points``). Then, while
    ``max_calls`` and ``deadline`` allow: protocols never backfilled (``revenue_history_at``
    empty), in full, the largest first; then the others from their newest stored day (less
    REVISION_DAYS), the least recently fetched first. ``backfill``: every protocol in full."""
    if refused := _refused(provider, "revenue-history"):  # before the overview is asked
        return refused
    today = today or timezone.now().date()
    tokens = Token.objects.tracked().exclude(defillama_slug=None)
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    from_overview: dict[str, list[RevenuePoint]] = {}
    calls = 0
    if backfill:
        due = [
            Due(pk, slug, None)
            for pk, slug in tokens.order_by(*_fair_order("revenue_history")).values_list("pk", "defillama_slug")
        ]
    else:
        backfilled = tokens.exclude(revenue_history_at=None).order_by(*_fair_order("revenue_history"))
        pairs = list(backfilled.values_list("pk", "defillama_slug"))
        newest = _newest_days(RevenueDay, backfilled)
        in_time = deadline is None or time.monotonic() < deadline
        if hasattr(provider, "latest_totals") and (max_calls is None or max_calls >= REVENUE_CALLS) and in_time:
            overview = _overview_points(provider, pairs, newest, today)
            if overview is not None:
                from_overview, calls = overview, REVENUE_CALLS
        due = [
            *(Due(pk, slug, today - ONE_DAY) for pk, slug in pairs if slug in from_overview),  # free: first
            *_backfills(tokens, "defillama_slug", "revenue_history"),
            *(
                Due(pk, slug, newest[pk] - dt.timedelta(days=REVISION_DAYS) if pk in newest else None)
                for pk, slug in pairs
                if slug not in from_overview
            ),
        ]

    def fetch(item: Due) -> list[RevenuePoint]:
        if item.key in from_overview:
            return from_overview[item.key]
        return provider.revenue_history(item.key, since=item.since)

    return _history_refresh(
        provider=provider,
        kind="revenue-history",
        state="revenue_history",
        due=due,
        fetch=fetch,
        cost=lambda item: 0 if item.key in from_overview else REVENUE_CALLS,
        upsert_many=services.revenue_upsert_many,
        after_write=lambda token_ids: revenue_reports.revenue_reports_build(token_ids=token_ids),
        progress=progress,
        max_calls=max_calls,
        deadline=deadline,
        calls=calls,
    )


def _overview_points(
    provider: object, tokens: list[tuple[int, str]], newest: dict[int, dt.date], today: dt.date
) -> dict[str, list[RevenuePoint]] | None:
    """Yesterday's figures from the overview, by slug, for the protocols it can vouch for.

    The overview gives each protocol's last closed day and the day before, without dates. A
    protocol stored up to the day before yesterday is given yesterday from it when the
    overview's older figures equal the stored ones for that day: that proves the two line
    up (DefiLlama has closed yesterday, and has not revised the day before). One stored up
    to yesterday whose figures equal the overview's newer ones needs nothing (an empty
    list). Any other protocol — new, further behind, revised, all zero, or missing from the
    overview — is left out, to be fetched one by one; so is everyone if the overview fails.
    None when no protocol could be vouched for, so the overview was not asked."""
    yesterday = today - dt.timedelta(days=1)
    wanted = {
        token_id: slug
        for token_id, slug in tokens
        if newest.get(token_id) in (yesterday - dt.timedelta(days=1), yesterday)
    }
    if not wanted:
        return None
    try:
        totals = provider.latest_totals()
    except ProviderError as exc:
        logger.warning("revenue overview failed, fetching every protocol: %s", exc)
        return {}
    stored = {
        (token_id, day): values
        for token_id, day, *values in RevenueDay.objects.filter(
            token_id__in=list(wanted), date__range=(yesterday - dt.timedelta(days=1), yesterday)
        ).values_list("token_id", "date", *services.REVENUE_VALUES)
    }
    points: dict[str, list[RevenuePoint]] = {}
    for token_id, slug in wanted.items():
        if slug not in totals:
            continue
        latest, before = totals[slug].day(0), totals[slug].day(1)
        last = newest[token_id]
        if not _vouches(stored.get((token_id, yesterday - dt.timedelta(days=1))), before):
            continue
        if last == yesterday - dt.timedelta(days=1):
            points[slug] = [RevenuePoint(slug, yesterday, *latest)]
        elif _same_figures(stored.get((token_id, yesterday)), latest):
            points[slug] = []
    return points


def _rounded_figures(values) -> tuple:
    return tuple(None if v is None else Decimal(v).quantize(snapshots.MONEY_PLACES) for v in values)


def _same_figures(stored, given) -> bool:
    return stored is not None and _rounded_figures(stored) == _rounded_figures(given)


def _vouches(stored, given) -> bool:
    """The overview's figures for a day match the stored ones, and say something (a day of
    zeros or blanks would match a misaligned day just as well)."""
    return _same_figures(stored, given) and any(v for v in given)
