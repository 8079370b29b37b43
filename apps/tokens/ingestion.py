"""Replaying a provider's data through the ingestion services: the sample load.

The sample provider hands over exactly what the live providers return (normalised rows
parsed from the same JSON shapes), so this path exercises the same code as a live refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from . import revenue_reports, services, snapshots
from .data_set import DataSetConflict, data_set_claim, data_set_refusal
from .models import DataSet, Source, SyncRun, Token
from .providers.base import ProviderError
from .providers.sample import SampleProvider

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class LoadResult:
    tokens: int
    price_rows: int
    revenue_rows: int
    snapshots: int
    reports: int


def sample_data_load(*, provider: SampleProvider | None = None, progress: Progress | None = None) -> LoadResult:
    """Load the bundled sample data set. Idempotent: a second load leaves the same database.

    The whole load is one transaction, so a bad file leaves nothing half-written; the
    failure is recorded on a SyncRun outside it. A database that holds live data is refused
    (DataSetConflict) before anything is read or written: the two never mix.
    """
    refusal = data_set_refusal(offered=DataSet.Mode.SAMPLE)
    if refusal:
        raise DataSetConflict(refusal)
    provider = provider or SampleProvider()
    as_of = provider.as_of()
    report = progress or (lambda stage, done, total: None)
    try:
        with transaction.atomic():
            result = _load(provider, as_of, report)
    except ProviderError as exc:
        run = services.sync_run_start(provider=Source.SAMPLE, kind="sample-load", started_at=as_of)
        services.sync_run_finish(run=run, rows_written=0, error=str(exc), finished_at=as_of)
        raise
    return result


def _load(provider: SampleProvider, as_of, report: Progress) -> LoadResult:
    data_set_claim(mode=DataSet.Mode.SAMPLE)
    run = services.sync_run_start(provider=Source.SAMPLE, kind="sample-load", started_at=as_of)
    catalogue = provider.catalogue()
    rows = services.catalogue_upsert(catalogue=catalogue, source=Source.SAMPLE, fetched_at=as_of)
    tokens = list(Token.objects.filter(slug__in=[t.slug for t in catalogue.tokens]).order_by("slug"))
    total = len(tokens)

    price_rows = revenue_rows = 0
    for done, token in enumerate(tokens, start=1):
        if token.coingecko_id:
            price_rows += services.prices_upsert(
                token_id=token.pk,
                points=provider.price_history(token.coingecko_id),
                source=Source.SAMPLE,
                sync_run=run,
                fetched_at=as_of,
            )
        if token.defillama_slug:
            revenue_rows += services.revenue_upsert(
                token_id=token.pk,
                points=provider.revenue_history(token.defillama_slug),
                source=Source.SAMPLE,
                sync_run=run,
                fetched_at=as_of,
            )
        report("history", done, total)
    price_rows += services.market_quotes_upsert(
        quotes=provider.markets(), source=Source.SAMPLE, sync_run=run, fetched_at=as_of
    )
    report("markets", 1, 1)
    # Their history is loaded whole: the history jobs treat them as backfilled, as a live
    # refresh would have left them.
    Token.objects.filter(pk__in=[t.pk for t in tokens if t.coingecko_id]).update(price_history_at=as_of)
    Token.objects.filter(pk__in=[t.pk for t in tokens if t.defillama_slug]).update(revenue_history_at=as_of)

    reports = revenue_reports.revenue_reports_build(token_ids=[t.pk for t in tokens])
    done_tokens = 0

    def snapshot_progress(count: int) -> None:
        nonlocal done_tokens
        done_tokens += count
        report("snapshots", done_tokens, total)

    snapshot_rows = snapshots.snapshots_recompute(
        chunk_size=10, token_ids=[t.pk for t in tokens], progress=snapshot_progress, computed_at=as_of
    )
    from apps.ratings.services import ratings_after_load  # ratings read tokens; tokens do not import ratings

    ratings_after_load(report=report)  # stamped when computed, not with the data's as-of
    from apps.editorial.sample import sample_lists_load  # likewise: editorial reads tokens

    sample_lists_load()  # the sample's Top 10 lists, made once (skipped unless their tokens are here)
    from apps.briefings.sample import sample_briefings_load  # briefings read ratings, tokens and lists

    sample_briefings_load()  # the briefings of the sample's last days, after the lists they report
    if run.status != SyncRun.Status.SUCCEEDED:  # a repeated load keeps the first load's record
        services.sync_run_finish(run=run, rows_written=rows + price_rows + revenue_rows, pages=total, finished_at=as_of)
    return LoadResult(
        tokens=total, price_rows=price_rows, revenue_rows=revenue_rows, snapshots=snapshot_rows, reports=reports
    )


def sample_load_status() -> SyncRun | None:
    return SyncRun.objects.filter(provider=Source.SAMPLE, kind="sample-load").order_by("-started_at").first()
