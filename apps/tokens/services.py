"""Writes of token facts. Every upsert is idempotent: the same rows twice leave the same
database, so a job may repeat any of them safely."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from . import bulk
from .models import (
    QUOTED_FIELDS,
    SUPPLY_FIELDS,
    AccrualEvent,
    AccrualPolicy,
    Category,
    Chain,
    DefiLlamaProtocol,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    SyncRun,
    Token,
)
from .providers.base import Catalogue, MarketQuote, PricePoint, ProviderDataError, RevenuePoint
from .selectors import data_changed

UPSERT_BATCH = 2000
# Above this many quotes, reading every token with a CoinGecko id beats an IN list of ids.
QUOTES_IN_LIST = 1000


def sync_run_start(*, provider: str, kind: str, started_at: dt.datetime | None = None) -> SyncRun:
    """Open a run. A replay with a fixed ``started_at`` (the sample data's as-of) reuses its run."""
    if started_at is None:
        # Refreshes of one kind never overlap (tasks hold a lock), so a run of this kind still
        # "running" was cut off: its worker died. Say so rather than leave it running forever.
        SyncRun.objects.filter(provider=provider, kind=kind, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED, finished_at=timezone.now(), error="Interrupted: the worker stopped mid-run"
        )
        return SyncRun.objects.create(provider=provider, kind=kind, started_at=timezone.now())
    run, _ = SyncRun.objects.get_or_create(provider=provider, kind=kind, started_at=started_at)
    return run


def sync_run_finish(
    *,
    run: SyncRun,
    rows_written: int,
    pages: int = 0,
    retries: int = 0,
    error: str = "",
    finished_at: dt.datetime | None = None,
    remaining: int = 0,
) -> SyncRun:
    """Close a run: failed when there is an error; ``remaining``, the tokens a run that
    stopped on its budget or deadline left for the next (it succeeded, partly)."""
    run.status = SyncRun.Status.FAILED if error else SyncRun.Status.SUCCEEDED
    run.rows_written = rows_written
    run.pages = pages
    run.retries = retries
    run.error = error
    run.remaining = remaining
    run.finished_at = finished_at or timezone.now()
    run.save(update_fields=["status", "rows_written", "pages", "retries", "error", "remaining", "finished_at"])
    data_changed()
    return run


@transaction.atomic
def catalogue_upsert(*, catalogue: Catalogue, source: str, fetched_at: dt.datetime) -> int:
    """Chains, tokens, accrual policies and events, and entered revenue reports. Events and
    reports carry ``source``: a sample catalogue's are generated (``Source.SAMPLE``), never
    an editor's."""
    categories = set(Category.values)
    for info in catalogue.tokens:
        if info.category not in categories:
            raise ProviderDataError(f"token {info.slug}: unknown category {info.category!r}")
    kinds = set(AccrualEvent.Kind.values)  # a kind no figure counts would vanish silently
    for event in catalogue.events:
        if event.kind not in kinds:
            raise ProviderDataError(f"event {event.token_slug} {event.date}: unknown kind {event.kind!r}")

    chain_slugs = {slug for info in catalogue.tokens for slug in info.chains} | set(catalogue.chain_names)
    Chain.objects.bulk_create(
        [
            Chain(slug=slug, name=catalogue.chain_names.get(slug, slug.replace("-", " ").title()))
            for slug in chain_slugs
        ],
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=["name"],
    )
    Token.objects.bulk_create(
        [
            Token(
                slug=info.slug,
                symbol=info.symbol,
                name=info.name,
                category=info.category,
                coingecko_id=info.coingecko_id,
                defillama_slug=info.defillama_slug,
                website=info.website,
                description=info.description,
                image_url=info.image_url,
                # An imported catalogue's categories are an editor's (the sample's are its own
                # universe): the providers' category mappings leave them (apps/tokens/universe.py).
                category_locked=source != Source.SAMPLE,
            )
            for info in catalogue.tokens
        ],
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=[
            "symbol",
            "name",
            "category",
            "category_locked",
            "coingecko_id",
            "defillama_slug",
            "website",
            "description",
        ],
        batch_size=UPSERT_BATCH,
    )
    token_ids = dict(Token.objects.filter(slug__in=[t.slug for t in catalogue.tokens]).values_list("slug", "id"))
    chain_ids = dict(Chain.objects.filter(slug__in=chain_slugs).values_list("slug", "id"))
    _token_chains_set(
        {token_ids[info.slug]: {chain_ids[c] for c in info.chains} for info in catalogue.tokens},
    )
    written = len(catalogue.tokens)

    def token_id(slug: str, what: str) -> int:
        if slug not in token_ids:
            token_ids[slug] = Token.objects.filter(slug=slug).values_list("id", flat=True).first()
        if token_ids[slug] is None:
            raise ProviderDataError(f"{what}: unknown token {slug!r}")
        return token_ids[slug]

    for policy in catalogue.policies:
        AccrualPolicy.objects.update_or_create(
            token_id=token_id(policy.token_slug, "policy"),
            mechanism=policy.mechanism,
            since=policy.since,
            defaults={
                "share_of_revenue": policy.share_of_revenue,
                "basis": policy.basis,
                "until": policy.until,
                "description": policy.description,
                "source_url": policy.source_url,
            },
        )
        written += 1
    AccrualEvent.objects.bulk_create(
        [
            AccrualEvent(
                token_id=token_id(event.token_slug, "event"),
                date=event.date,
                kind=event.kind,
                usd_amount=event.usd_amount,
                token_amount=event.token_amount,
                reference=event.reference,
                note=event.note,
                source=source,
                fetched_at=fetched_at,
            )
            for event in catalogue.events
        ],
        update_conflicts=True,
        unique_fields=["token", "date", "kind", "reference"],
        update_fields=["usd_amount", "token_amount", "note", "source", "fetched_at"],
        batch_size=UPSERT_BATCH,
    )
    written += len(catalogue.events)
    # A catalogue's statements are an editor's in a live database; the sample's are generated
    # like the rest of it, and say so wherever their source is shown.
    report_source = Source.SAMPLE if source == Source.SAMPLE else Source.EDITOR
    for report in catalogue.reports:
        RevenueReport.objects.update_or_create(
            token_id=token_id(report.token_slug, "report"),
            period=report.period,
            period_start=report.period_start,
            source=report_source,
            defaults={
                "period_end": report.period_end,
                "revenue_usd": report.revenue,
                "fees_usd": report.fees,
                "holders_revenue_usd": report.holders_revenue,
                # A generated report cites no outside page: none is its source.
                "source_url": "" if source == Source.SAMPLE else report.source_url,
                "note": report.note,
            },
        )
        written += 1
    return written


def _token_chains_set(wanted: dict[int, set[int]]) -> None:
    """Make each token's chains exactly the wanted set, in two queries whatever the count."""
    through = Token.chains.through
    existing: dict[int, set[int]] = {}
    for token_id, chain_id in through.objects.filter(token_id__in=wanted).values_list("token_id", "chain_id"):
        existing.setdefault(token_id, set()).add(chain_id)
    stale = [(t, c) for t, chains in existing.items() for c in chains - wanted.get(t, set())]
    for token_id, chain_id in stale:
        through.objects.filter(token_id=token_id, chain_id=chain_id).delete()
    through.objects.bulk_create(
        [through(token_id=t, chain_id=c) for t, chains in wanted.items() for c in chains - existing.get(t, set())],
        ignore_conflicts=True,
    )


PRICE_VALUES = ["price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "observed_at"]
REVENUE_VALUES = ["fees_usd", "revenue_usd", "holders_revenue_usd"]
PROVENANCE = ["source", "sync_run_id", "fetched_at"]


def _row_rounder(model: type, field_names: Sequence[str], offset: int = 0):
    """A function rounding the decimal fields of a row (a tuple whose fields ``field_names``
    start at ``offset``) as the database columns will, so a re-fetched value compares equal
    to the stored one."""
    places = [
        (offset + i, Decimal(1).scaleb(-p))
        for i, name in enumerate(field_names)
        if (p := getattr(model._meta.get_field(name), "decimal_places", None)) is not None
    ]

    def rounded(row: tuple) -> tuple:
        row = list(row)
        for i, exponent in places:
            value = row[i]
            if value is not None:
                row[i] = value.quantize(exponent)
        return tuple(row)

    return rounded


def quoted_tokens(
    token_ids: Iterable[int] | None = None, coingecko_ids: Iterable[str] | None = None
) -> dict[str, tuple]:
    """The tokens a market refresh asks quotes for: coingecko_id → (pk, *SUPPLY_FIELDS), every
    tracked token with a CoinGecko id (``Token.objects.tracked()``: an editor's choice, else
    still listed), or those of ``token_ids`` or of ``coingecko_ids``."""
    quoted = Token.objects.quotable()
    if token_ids is not None:
        quoted = quoted.filter(pk__in=list(token_ids))
    if coingecko_ids is not None:
        quoted = quoted.filter(coingecko_id__in=list(coingecko_ids))
    return {row[0]: row[1:] for row in quoted.values_list("coingecko_id", "pk", *SUPPLY_FIELDS)}


@dataclass
class QuotesWritten:
    rows: int  # PriceDay rows written (a quote identical to the stored one writes nothing)
    quotes: int  # quotes read
    token_ids: set[int] = field(default_factory=set)  # the known tokens quoted
    days: set[dt.date] = field(default_factory=set)  # the days they are quotes of
    supplies: list[tuple] = field(default_factory=list)  # (id, *QUOTED_FIELDS) of each token quoted


@transaction.atomic
def market_quotes_upsert(
    *, quotes: Sequence[MarketQuote], source: str, sync_run: SyncRun | None, fetched_at: dt.datetime
) -> int:
    """Current quotes: refresh each known token's supplies and today's PriceDay; how many
    PriceDay rows were written (a quote identical to the stored one writes nothing)."""
    # A few tokens: look them up; the universe: read it whole.
    tokens = quoted_tokens(coingecko_ids=[q.coingecko_id for q in quotes] if len(quotes) <= QUOTES_IN_LIST else None)
    return market_quotes_write(
        quotes=quotes, tokens=tokens, source=source, sync_run=sync_run, fetched_at=fetched_at
    ).rows


@transaction.atomic
def market_quotes_write(
    *,
    quotes: Iterable[MarketQuote],
    tokens: dict[str, tuple],
    source: str,
    sync_run: SyncRun | None,
    fetched_at: dt.datetime,
    store_supplies: bool = True,
) -> QuotesWritten:
    """``market_quotes_upsert`` for ``tokens`` (``quoted_tokens``; other quotes are ignored,
    as is a token's second quote): each token's PriceDay for its quote's day, and its
    supplies with ``quoted_at`` = ``fetched_at``. ``store_supplies=False``: those are
    returned, not stored (the market refresh stores them with the snapshots' pointers:
    ``snapshots_reprice``)."""
    round_supplies = _row_rounder(Token, SUPPLY_FIELDS)
    sync_run_id = sync_run.pk if sync_run else None
    result = QuotesWritten(rows=0, quotes=0)
    rows = []
    for quote in quotes:
        result.quotes += 1
        known = tokens.get(quote.coingecko_id)
        if known is None or known[0] in result.token_ids:
            continue
        pk, *before = known
        result.token_ids.add(pk)
        supplies = round_supplies(
            (quote.circulating_supply, quote.total_supply, quote.max_supply, quote.image_url or before[3])
        )
        result.supplies.append((pk, *supplies, fetched_at))
        day = quote.last_updated.date()
        result.days.add(day)
        values = (quote.price, quote.market_cap, quote.fdv, quote.volume, quote.last_updated)
        rows.append((pk, day, *values, source, sync_run_id, fetched_at))
    if store_supplies:
        bulk.update_rows(Token, ["id", *QUOTED_FIELDS], result.supplies)
    result.rows = len(daily_upsert(PriceDay, rows, PRICE_VALUES))
    return result


def daily_upsert(model: type[PriceDay] | type[RevenueDay], rows: list[tuple], value_fields: list[str]) -> list[tuple]:
    """Insert new days and update changed ones; ``rows`` are tuples (token_id, date,
    *value_fields, *PROVENANCE). A day whose values are unchanged is left alone, provenance
    included (the fetch that produced a value stays its source), so a repeated refresh
    writes nothing; an older observation of today's price never replaces a newer one.
    Returns the (token_id, date) of the rows written."""
    rounded = _row_rounder(model, value_fields, offset=2)
    fields = ["token_id", "date", *value_fields, *PROVENANCE]
    rows = [rounded(row) for row in rows]
    return bulk.upsert_changed(
        model,
        fields,
        rows,
        unique_fields=["token_id", "date"],
        compare_fields=value_fields,
        not_older="observed_at" if "observed_at" in value_fields else None,
        # Rows of tokens with nothing stored on their days (a day's first quotes, a backfill) go straight in.
        scope={"token_id__any": {row[0] for row in rows}, "date__in": {row[1] for row in rows}},
    )


@transaction.atomic
def prices_upsert_many(
    *,
    points_by_token: dict[int, Sequence[PricePoint]],
    source: str,
    sync_run: SyncRun | None,
    fetched_at: dt.datetime,
) -> Counter[int]:
    """Daily price history of many tokens in one write; how many days changed, by token.
    A day already holding an FDV keeps it (the daily chart has none)."""
    dates = {p.date for points in points_by_token.values() for p in points}
    fdv = {
        (token_id, day): value
        for token_id, day, value in PriceDay.objects.filter(
            token_id__in=list(points_by_token), date__in=dates, fdv_usd__isnull=False
        ).values_list("token_id", "date", "fdv_usd")
    }
    sync_run_id = sync_run.pk if sync_run else None
    rows = [
        (
            token_id,
            p.date,
            p.price,
            p.market_cap,
            p.fdv if p.fdv is not None else fdv.get((token_id, p.date)),
            p.volume,
            p.observed_at,
            source,
            sync_run_id,
            fetched_at,
        )
        for token_id, points in points_by_token.items()
        for p in points
    ]
    return Counter(token_id for token_id, _ in daily_upsert(PriceDay, rows, PRICE_VALUES))


@transaction.atomic
def revenue_upsert_many(
    *,
    points_by_token: dict[int, Sequence[RevenuePoint]],
    source: str,
    sync_run: SyncRun | None,
    fetched_at: dt.datetime,
) -> Counter[int]:
    """Daily fees, revenue and holders revenue of many tokens in one write; days changed, by token."""
    sync_run_id = sync_run.pk if sync_run else None
    rows = [
        (token_id, p.date, p.fees, p.revenue, p.holders_revenue, source, sync_run_id, fetched_at)
        for token_id, points in points_by_token.items()
        for p in points
    ]
    return Counter(token_id for token_id, _ in daily_upsert(RevenueDay, rows, REVENUE_VALUES))


def prices_upsert(
    *, token_id: int, points: Iterable[PricePoint], source: str, sync_run: SyncRun | None, fetched_at: dt.datetime
) -> int:
    """Daily price history of one token; how many days were written."""
    written = prices_upsert_many(
        points_by_token={token_id: list(points)}, source=source, sync_run=sync_run, fetched_at=fetched_at
    )
    return written[token_id]


def revenue_upsert(
    *, token_id: int, points: Iterable[RevenuePoint], source: str, sync_run: SyncRun | None, fetched_at: dt.datetime
) -> int:
    """Daily revenue of one token; how many days were written."""
    written = revenue_upsert_many(
        points_by_token={token_id: list(points)}, source=source, sync_run=sync_run, fetched_at=fetched_at
    )
    return written[token_id]


@transaction.atomic
def protocols_upsert(*, protocols: Sequence, seen_at: dt.datetime) -> int:
    """DefiLlama's protocol list (slug, name, symbol, gecko_id, category)."""
    DefiLlamaProtocol.objects.bulk_create(
        [
            DefiLlamaProtocol(
                slug=p.slug, name=p.name, symbol=p.symbol, gecko_id=p.gecko_id, category=p.category, seen_at=seen_at
            )
            for p in protocols
        ],
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=["name", "symbol", "gecko_id", "category", "seen_at"],
        batch_size=UPSERT_BATCH,
    )
    return len(protocols)


@transaction.atomic
def tokens_map_to_protocols() -> set[int]:
    """Give each unmapped, unlocked token the protocol whose ``gecko_id`` is its CoinGecko id."""
    taken = set(Token.objects.exclude(defillama_slug=None).values_list("defillama_slug", flat=True))
    by_gecko: dict[str, str] = {}
    for gecko_id, slug in (
        DefiLlamaProtocol.objects.exclude(gecko_id=None).order_by("slug").values_list("gecko_id", "slug")
    ):
        by_gecko.setdefault(gecko_id, slug)  # a parent and its child may share an id: first slug wins
    mapped: set[int] = set()
    candidates = Token.objects.filter(defillama_slug=None, mapping_locked=False, coingecko_id__in=list(by_gecko))
    for token in candidates.only("pk", "coingecko_id"):
        slug = by_gecko[token.coingecko_id]
        if slug in taken:
            continue
        Token.objects.filter(pk=token.pk).update(defillama_slug=slug)
        taken.add(slug)
        mapped.add(token.pk)
    return mapped
