"""Refreshing facts from a provider: market quotes, price history, revenue history.

Each refresh is a service: it opens a SyncRun, asks the provider for normalised rows,
writes them with the idempotent upserts, recomputes the snapshots of what changed, and
records the outcome. A provider failure writes nothing from the failed response and is
recorded with its reason on the run. Backfill once, then incremental: a token's history
is fetched from its newest stored day (minus a few days that providers revise).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import services, snapshots
from .models import PriceDay, RevenueDay, Source, SyncRun, Token
from .providers.base import MarketQuote, PricePoint, ProviderError, RevenuePoint

logger = logging.getLogger(__name__)

# Providers revise their latest days (DefiLlama's adapters re-run); re-read this many.
REVISION_DAYS = 3
DEFAULT_BACKFILL_DAYS = 365
# Tokens fetched before their facts and snapshots are written together.
HISTORY_BATCH = 100

Progress = Callable[[int, int], None]


class MarketProvider(Protocol):
    def markets(self, ids: Sequence[str]) -> list[MarketQuote]: ...

    def price_history(self, coingecko_id: str, days: int = ...) -> list[PricePoint]: ...


class RevenueProvider(Protocol):
    def revenue_history(self, slug: str) -> list[RevenuePoint]: ...


@dataclass
class RefreshResult:
    run: SyncRun
    changed_tokens: set[int] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)


def _source_of(provider: object) -> str:
    return getattr(provider, "source", None) or getattr(provider, "name", Source.SAMPLE)


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
    """Current quotes for the tracked universe (one paged call), then today's snapshots."""
    source = _source_of(provider)
    run = services.sync_run_start(provider=source, kind="markets")
    result = RefreshResult(run=run)
    tokens = Token.objects.exclude(coingecko_id=None)
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    ids = dict(tokens.values_list("coingecko_id", "pk"))
    try:
        quotes = provider.markets(sorted(ids))
    except ProviderError as exc:
        logger.warning("market refresh from %s failed: %s", source, exc)
        return _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        rows = services.market_quotes_upsert(quotes=quotes, source=source, sync_run=run, fetched_at=timezone.now())
        result.changed_tokens = {ids[q.coingecko_id] for q in quotes if q.coingecko_id in ids}
        for day in sorted({q.last_updated.date() for q in quotes}):
            snapshots.snapshots_reprice(token_ids=None if token_ids is None else result.changed_tokens, day=day)
    return _finish(result, provider, rows, pages=max(1, -(-len(ids) // 250)))


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
            with transaction.atomic():
                written = upsert_many(
                    points_by_token=fetched, source=source, sync_run=result.run, fetched_at=timezone.now()
                )
                if written:
                    since = min(p.date for token_id in written for p in fetched[token_id])
                    snapshots.snapshots_recompute(token_ids=list(written), since=since)
                    if after_write:
                        after_write(set(written))
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
    tokens = Token.objects.exclude(coingecko_id=None).order_by("pk")
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
) -> RefreshResult:
    """Daily fees, revenue and holders revenue per protocol; only new days unless backfilling.
    DefiLlama returns a protocol's whole history in one call either way."""
    tokens = Token.objects.exclude(defillama_slug=None).order_by("pk")
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    return _history_refresh(
        provider=provider,
        kind="revenue-history",
        tokens=list(tokens.values_list("pk", "defillama_slug")),
        newest={} if backfill else _newest_days(RevenueDay, tokens),
        fetch=lambda slug, last: provider.revenue_history(slug),
        upsert_many=services.revenue_upsert_many,
        after_write=lambda token_ids: snapshots.revenue_reports_build(token_ids=token_ids),
        progress=progress,
    )


class ProtocolProvider(Protocol):
    def protocols(self) -> list: ...


def mapping_refresh(*, provider: ProtocolProvider) -> RefreshResult:
    """Store DefiLlama's protocol list and map tokens to protocols by CoinGecko id.

    A token an editor has mapped by hand (``mapping_locked``) is never changed, and a
    protocol already mapped to another token is not taken twice.
    """
    source = _source_of(provider)
    run = services.sync_run_start(provider=source, kind="mapping")
    result = RefreshResult(run=run)
    try:
        protocols = provider.protocols()
    except ProviderError as exc:
        return _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    rows = services.protocols_upsert(protocols=protocols, seen_at=timezone.now())
    result.changed_tokens = services.tokens_map_to_protocols()
    return _finish(result, provider, rows + len(result.changed_tokens), pages=1)


def market_provider() -> MarketProvider:
    """The configured source of market data: the bundled sample, or CoinGecko."""
    if settings.ACCRUAL_DATA_MODE == "live":
        from .providers.coingecko import CoinGeckoClient

        return CoinGeckoClient.from_settings()
    from .providers.sample import SampleProvider

    return SampleProvider()


def revenue_provider() -> RevenueProvider:
    """The configured source of revenue data: the bundled sample, or DefiLlama."""
    if settings.ACCRUAL_DATA_MODE == "live":
        from .providers.defillama import DefiLlamaClient

        return DefiLlamaClient.from_settings()
    from .providers.sample import SampleProvider

    return SampleProvider()
