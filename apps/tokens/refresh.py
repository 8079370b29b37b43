"""Refreshing facts from a provider: market quotes (and DefiLlama's protocol list), with
what every refresh shares — the SyncRun it opens and finishes, the data set it belongs to.

Each refresh is a service: it opens a SyncRun, asks the provider for normalised rows
outside any transaction, then writes them in short transactions with the idempotent
upserts, each recomputing the snapshots of what it changed, and records the outcome. A
provider failure writes nothing from the failed response and is recorded on the run.
Each day's price comes from the market refresh's quotes; ``history`` fills the gaps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from . import services, snapshots
from .data_set import DataSetConflict, data_set_claim, data_set_refusal
from .models import DataSet, Source, SyncRun
from .providers.base import MarketQuote, PricePoint, ProviderError, RevenuePoint
from .providers.coingecko import CoinGeckoClient  # imported with the worker, not on its first refresh
from .providers.defillama import DefiLlamaClient

logger = logging.getLogger(__name__)

# Quotes written (prices, supplies, snapshots) per transaction.
MARKET_BATCH = 2000


class MarketProvider(Protocol):
    def markets(self, ids: Sequence[str]) -> list[MarketQuote]: ...

    def price_history(self, coingecko_id: str, days: int = ...) -> list[PricePoint]: ...


class RevenueProvider(Protocol):
    def revenue_history(self, slug: str, since: dt.date | None = None) -> list[RevenuePoint]: ...


@dataclass
class RefreshResult:
    run: SyncRun
    changed_tokens: set[int] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    calls: int = 0  # provider calls the history jobs made (what max_calls bounds)
    remaining: int = 0  # tokens due that a stopped run left for the next


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
    services.sync_run_finish(
        run=result.run, rows_written=rows, pages=pages, retries=retries, error=error, remaining=result.remaining
    )
    return result


def market_refresh(*, provider: MarketProvider, token_ids: Sequence[int] | None = None) -> RefreshResult:
    """Current quotes for the tracked universe, then today's snapshots.

    Every page is fetched first, outside any transaction, so rate-limit waits and retries
    hold neither locks nor a pooled connection's transaction; a page that fails writes
    nothing. The quotes are then written MARKET_BATCH tokens at a time, each batch one short
    transaction with its prices, supplies, ``quoted_at`` and snapshots: a failure part-way
    leaves every token complete or untouched."""
    if refused := _refused(provider, "markets"):
        return refused
    source = _source_of(provider)
    result = RefreshResult(run=services.sync_run_start(provider=source, kind="markets"))
    tokens = services.quoted_tokens(token_ids)
    ids = sorted(tokens)
    try:
        quotes = provider.markets(ids)
    except ProviderError as exc:  # nothing written
        logger.warning("market refresh from %s failed: %s", source, exc)
        return _finish(result, provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    first: dict[str, MarketQuote] = {}
    for quote in quotes:
        if quote.coingecko_id in tokens:
            first.setdefault(quote.coingecko_id, quote)
    known = list(first.values())
    fetched_at = timezone.now()
    rows = 0
    try:
        for start in range(0, len(known), MARKET_BATCH):
            with transaction.atomic():
                written = services.market_quotes_write(
                    quotes=known[start : start + MARKET_BATCH],
                    tokens=tokens,
                    source=source,
                    sync_run=result.run,
                    fetched_at=fetched_at,
                    store_supplies=False,  # stored by the reprice, in the same rewrite of each token
                )
                if written.rows:
                    data_set_claim(mode=data_set_of(provider))
                for day in sorted(written.days):
                    snapshots.snapshots_reprice(token_ids=written.token_ids, day=day, supplies=written.supplies)
            rows += written.rows
            result.changed_tokens |= written.token_ids
    except DataSetConflict as exc:  # the other set arrived meanwhile: this batch not written
        return _finish(result, provider, rows, 0, error=str(exc))
    except DatabaseError as exc:  # this batch not written; the run says why, and the task retries
        with contextlib.suppress(DatabaseError):  # (unless the database itself is gone)
            _finish(result, provider, rows, 0, error=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    logger.info("market refresh: %d quotes fetched, %d prices written", len(quotes), rows)
    return _finish(result, provider, rows, pages=max(1, -(-len(ids) // 250)))


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
