"""Refreshing facts from a provider: market quotes, price history, revenue history.

Each refresh is a service: it opens a SyncRun, asks the provider for normalised rows,
writes them with the idempotent upserts, recomputes the snapshots of what changed, and
records the outcome. A provider failure writes nothing from the failed response and is
recorded with its reason on the run. Backfill once, then incremental: a token's history
is fetched from its newest stored day (minus a few days that providers revise).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from . import services, snapshots
from .data_set import DataSetConflict, data_set_claim, data_set_refusal
from .models import DataSet, PriceDay, RevenueDay, Source, SyncRun, Token
from .providers.base import MarketQuote, PricePoint, ProviderError, RevenuePoint
from .providers.coingecko import CoinGeckoClient  # imported with the worker, not on its first refresh
from .providers.defillama import DefiLlamaClient

logger = logging.getLogger(__name__)

# Providers revise their latest days (DefiLlama's adapters re-run); re-read this many.
REVISION_DAYS = 3
DEFAULT_BACKFILL_DAYS = 365
# Tokens fetched before their facts and snapshots are written together.
HISTORY_BATCH = 100

Progress = Callable[[int, int], None]


class MarketProvider(Protocol):
    """``market_pages(ids)`` too, where the provider pages (an iterator of lists of quotes):
    market_refresh then writes each page as the next is fetched."""

    def markets(self, ids: Sequence[str]) -> list[MarketQuote]: ...

    def price_history(self, coingecko_id: str, days: int = ...) -> list[PricePoint]: ...


class RevenueProvider(Protocol):
    def revenue_history(self, slug: str, since: dt.date | None = None) -> list[RevenuePoint]: ...


@dataclass
class RefreshResult:
    run: SyncRun
    changed_tokens: set[int] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)


def _source_of(provider: object) -> str:
    return getattr(provider, "source", None) or getattr(provider, "name", Source.SAMPLE)


def data_set_of(provider: object) -> str:
    """The data set a provider's rows belong to: the sample provider's are sample data, every
    other provider's live data."""
    return DataSet.Mode.SAMPLE if _source_of(provider) == Source.SAMPLE else DataSet.Mode.LIVE


def _refused(provider: object, kind: str) -> RefreshResult | None:
    """A refresh offered to a database that holds the other data set writes nothing but a
    failed run that says why and names the command that clears it (so a task neither raises
    nor retries, and the admin's list of runs shows the reason)."""
    reason = data_set_refusal(offered=data_set_of(provider))
    if not reason:
        return None
    logger.warning("%s refresh from %s refused: %s", kind, _source_of(provider), reason)
    return _finish(
        RefreshResult(run=services.sync_run_start(provider=_source_of(provider), kind=kind)), provider, 0, 0, reason
    )


def _http_stats(provider: object) -> tuple[int, int]:
    stats = getattr(getattr(provider, "http", None), "stats", None)
    return (getattr(stats, "requests", 0), getattr(stats, "retries", 0)) if stats else (0, 0)


def _finish(result: RefreshResult, provider: object, rows: int, pages: int, error: str = "") -> RefreshResult:
    requests, retries = _http_stats(provider)
    pages = requests or pages
    if result.failures and not error:
        error = "; ".join(f"{key}: {reason}" for key, reason in sorted(result.failures.items()))[:4000]
    services.sync_run_finish(run=result.run, rows_written=rows, pages=pages, retries=retries, error=error)
    return result


def _newest_days(model: type[PriceDay] | type[RevenueDay], tokens) -> dict[int, dt.date]:
    """Each token's newest stored day: where an incremental fetch starts."""
    rows = model.objects.filter(token__in=tokens).values("token_id").annotate(d=Max("date"))
    return dict(rows.values_list("token_id", "d"))


def market_refresh(*, provider: MarketProvider, token_ids: Sequence[int] | None = None) -> RefreshResult:
    """Current quotes for the tracked universe (one paged call), then today's snapshots.

    The prices are written as the pages arrive (``market_pages``, where the provider pages),
    so the database stores one page while the next is fetched; the snapshots follow. All of
    it is one transaction: a page that fails leaves nothing of the refresh written."""
    if refused := _refused(provider, "markets"):
        return refused
    source = _source_of(provider)
    run = services.sync_run_start(provider=source, kind="markets")
    result = RefreshResult(run=run)
    tokens = services.quoted_tokens(token_ids)
    ids = sorted(tokens)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            pages = getattr(provider, "market_pages", None)
            written = services.market_quotes_write(
                quotes=chain.from_iterable(pages(ids)) if pages else provider.markets(ids),
                tokens=tokens,
                source=source,
                sync_run=run,
                fetched_at=timezone.now(),
                store_supplies=False,  # stored by the reprice, in the same rewrite of each token
            )
            if written.rows:
                data_set_claim(mode=data_set_of(provider))
            fetched = time.perf_counter()
            for day in sorted(written.days):
                snapshots.snapshots_reprice(
                    token_ids=None if token_ids is None else written.token_ids, day=day, supplies=written.supplies
                )
            repriced = time.perf_counter()
    except ProviderError as exc:  # nothing written
        logger.warning("market refresh from %s failed: %s", source, exc)
        return _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    except DataSetConflict as exc:  # the other set arrived meanwhile: nothing written
        return _finish(result, provider, 0, 0, error=str(exc))
    except DatabaseError as exc:  # nothing written; the run says why, and the task retries
        with contextlib.suppress(DatabaseError):  # (unless the database itself is gone)
            _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    result.changed_tokens = written.token_ids
    logger.info(
        "market refresh: %d quotes fetched and %d prices written in %.2f s, snapshots in %.2f s, commit %.2f s",
        written.quotes,
        written.rows,
        fetched - started,
        repriced - fetched,
        time.perf_counter() - repriced,
    )
    return _finish(result, provider, written.rows, pages=max(1, -(-len(ids) // 250)))


def _history_refresh(
    *,
    provider: object,
    kind: str,
    tokens: list[tuple[int, str]],
    newest: dict[int, dt.date],
    fetch: Callable[[str, dt.date | None], list],
    upsert_many: Callable[..., Counter],
    after_write: Callable[[set[int]], None] | None = None,
    progress: Progress | None = None,
) -> RefreshResult:
    """The loop both histories share. Per batch of tokens: fetch each (outside any
    transaction), keep what is new (from the newest stored day less REVISION_DAYS), then
    write the batch's facts and recompute its snapshots in one transaction — so a worker
    killed mid-run leaves every written token complete, and a batch costs a fixed number of
    queries whatever its size."""
    if refused := _refused(provider, kind):
        return refused
    source = _source_of(provider)
    result = RefreshResult(run=services.sync_run_start(provider=source, kind=kind))
    rows = 0
    for start in range(0, len(tokens), HISTORY_BATCH):
        batch = tokens[start : start + HISTORY_BATCH]
        fetched: dict[int, list] = {}
        for token_id, key in batch:
            last = newest.get(token_id)
            try:
                points = fetch(key, last)
            except ProviderError as exc:
                result.failures[key] = f"{type(exc).__name__}: {exc}"
                continue
            if last is not None:
                points = [p for p in points if p.date >= last - dt.timedelta(days=REVISION_DAYS)]
            if points:
                fetched[token_id] = points
        if fetched:
            try:
                with transaction.atomic():
                    written = upsert_many(
                        points_by_token=fetched, source=source, sync_run=result.run, fetched_at=timezone.now()
                    )
                    if written:
                        data_set_claim(mode=data_set_of(provider))
                        since = min(p.date for token_id in written for p in fetched[token_id])
                        snapshots.snapshots_recompute(token_ids=list(written), since=since)
                        if after_write:
                            after_write(set(written))
            except DataSetConflict as exc:  # the other set arrived meanwhile: this batch not written
                return _finish(result, provider, rows, pages=len(tokens), error=str(exc))
            rows += sum(written.values())
            result.changed_tokens |= set(written)
        if progress:
            progress(start + len(batch), len(tokens))
    return _finish(result, provider, rows, pages=len(tokens))


def price_history_refresh(
    *,
    provider: MarketProvider,
    token_ids: Sequence[int] | None = None,
    backfill_days: int = DEFAULT_BACKFILL_DAYS,
    progress: Progress | None = None,
) -> RefreshResult:
    """Daily prices: a token with no history is backfilled; others fetch only new days."""
    tokens = Token.objects.tracked().exclude(coingecko_id=None).order_by("pk")
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    today = timezone.now().date()

    def fetch(coingecko_id: str, last: dt.date | None) -> list[PricePoint]:
        days = backfill_days if last is None else max((today - last).days + REVISION_DAYS, 2)
        return provider.price_history(coingecko_id, days=min(days, backfill_days))

    return _history_refresh(
        provider=provider,
        kind="price-history",
        tokens=list(tokens.values_list("pk", "coingecko_id")),
        newest=_newest_days(PriceDay, tokens),
        fetch=fetch,
        upsert_many=services.prices_upsert_many,
        progress=progress,
    )


def revenue_refresh(
    *,
    provider: RevenueProvider,
    token_ids: Sequence[int] | None = None,
    backfill: bool = False,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> RefreshResult:
    """Daily fees, revenue and holders revenue per protocol; only new days unless backfilling.

    DefiLlama returns a protocol's whole history in one call per series (three calls a
    protocol), so a daily run first asks the overview — three calls for the whole universe —
    and takes yesterday's figures from it for every protocol it can vouch for (see
    ``_overview_points``); only the others are fetched one by one."""
    if refused := _refused(provider, "revenue-history"):  # before the overview is asked
        return refused
    tokens = Token.objects.tracked().exclude(defillama_slug=None).order_by("pk")
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    pairs = list(tokens.values_list("pk", "defillama_slug"))
    newest = {} if backfill else _newest_days(RevenueDay, tokens)
    from_overview: dict[str, list[RevenuePoint]] = {}
    if not backfill and hasattr(provider, "latest_totals"):
        from_overview = _overview_points(provider, pairs, newest, today or timezone.now().date())

    def fetch(slug: str, last: dt.date | None) -> list[RevenuePoint]:
        if slug in from_overview:
            return from_overview[slug]
        return provider.revenue_history(slug, since=last - dt.timedelta(days=REVISION_DAYS) if last else None)

    return _history_refresh(
        provider=provider,
        kind="revenue-history",
        tokens=pairs,
        newest=newest,
        fetch=fetch,
        upsert_many=services.revenue_upsert_many,
        after_write=lambda token_ids: snapshots.revenue_reports_build(token_ids=token_ids),
        progress=progress,
    )


def _overview_points(
    provider: object, tokens: list[tuple[int, str]], newest: dict[int, dt.date], today: dt.date
) -> dict[str, list[RevenuePoint]]:
    """Yesterday's figures from the overview, by slug, for the protocols it can vouch for.

    The overview gives each protocol's last closed day and the day before, without dates. A
    protocol stored up to the day before yesterday is given yesterday from it when the
    overview's older figures equal the stored ones for that day: that proves the two line
    up (DefiLlama has closed yesterday, and has not revised the day before). One stored up
    to yesterday whose figures equal the overview's newer ones needs nothing (an empty
    list). Any other protocol — new, further behind, revised, all zero, or missing from the
    overview — is left out, to be fetched in full; so is everyone if the overview fails."""
    yesterday = today - dt.timedelta(days=1)
    wanted = {
        token_id: slug
        for token_id, slug in tokens
        if newest.get(token_id) in (yesterday - dt.timedelta(days=1), yesterday)
    }
    if not wanted:
        return {}
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


class ProtocolProvider(Protocol):
    def protocols(self) -> list: ...


def mapping_refresh(*, provider: ProtocolProvider) -> RefreshResult:
    """Store DefiLlama's protocol list and map tokens to protocols by CoinGecko id.

    A token an editor has mapped by hand (``mapping_locked``) is never changed, and a
    protocol already mapped to another token is not taken twice.
    """
    if refused := _refused(provider, "mapping"):
        return refused
    source = _source_of(provider)
    run = services.sync_run_start(provider=source, kind="mapping")
    result = RefreshResult(run=run)
    try:
        protocols = provider.protocols()
    except ProviderError as exc:
        return _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    try:
        with transaction.atomic():
            if protocols:
                data_set_claim(mode=data_set_of(provider))
            rows = services.protocols_upsert(protocols=protocols, seen_at=timezone.now())
            result.changed_tokens = services.tokens_map_to_protocols()
    except DataSetConflict as exc:  # the other set arrived meanwhile: nothing written
        return _finish(result, provider, 0, 0, error=str(exc))
    return _finish(result, provider, rows + len(result.changed_tokens), pages=1)


def market_provider() -> MarketProvider:
    """The configured source of market data: the bundled sample, or CoinGecko."""
    if settings.ACCRUAL_DATA_MODE == "live":
        return CoinGeckoClient.from_settings()
    from .providers.sample import SampleProvider

    return SampleProvider()


def revenue_provider() -> RevenueProvider:
    """The configured source of revenue data: the bundled sample, or DefiLlama."""
    if settings.ACCRUAL_DATA_MODE == "live":
        return DefiLlamaClient.from_settings()
    from .providers.sample import SampleProvider

    return SampleProvider()
