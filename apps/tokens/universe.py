"""The live universe: which tokens a live deployment tracks, found by the providers themselves.

The ``ACCRUAL_UNIVERSE_SIZE`` largest coins by market cap on CoinGecko, and every DefiLlama
protocol with fees data and a CoinGecko id, with their chains and categories. A coin that
leaves both is marked delisted, never deleted; one that comes back is listed again. An
editor's choice (always or never track, a hand-set category, a locked mapping) wins over
discovery. The sample data set is its own universe (the bundled catalogue): discovery is
live only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from . import bulk, services
from .data_set import DataSetConflict, data_set_claim
from .models import Category, CategoryMapping, Chain, DataSet, Listing, Source, Token
from .providers.base import ProviderError
from .providers.defillama import ProtocolInfo
from .refresh import RefreshResult, _finish, _refused, _source_of, data_set_of

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

SAMPLE_REFUSAL = (
    "The sample data set is its own universe (the bundled catalogue): discovery asks the live providers, "
    "so it runs only with ACCRUAL_DATA_MODE=live on a live (or empty) database."
)

# What DefiLlama's category names mean in Accrual's categories, used when a name is first
# met; the row it makes is the editors' to change (CategoryMapping admin), and theirs wins.
DEFAULT_CATEGORIES: dict[tuple[str, str], str] = {
    (Source.DEFILLAMA, "Dexs"): Category.SPOT_DEX,
    (Source.DEFILLAMA, "DEX Aggregator"): Category.SPOT_DEX,
    (Source.DEFILLAMA, "Derivatives"): Category.PERPS_DEX,
    (Source.DEFILLAMA, "Perps"): Category.PERPS_DEX,
    (Source.DEFILLAMA, "Lending"): Category.LENDING,
    (Source.DEFILLAMA, "CDP"): Category.STABLECOIN,
    (Source.DEFILLAMA, "Stablecoin Issuer"): Category.STABLECOIN,
    (Source.DEFILLAMA, "Algo-Stables"): Category.STABLECOIN,
    (Source.DEFILLAMA, "Launchpad"): Category.LAUNCHPAD,
    (Source.DEFILLAMA, "Chain"): Category.LAYER1,
    (Source.DEFILLAMA, "Rollup"): Category.LAYER2,
    (Source.DEFILLAMA, "Liquid Staking"): Category.LIQUID_STAKING,
    (Source.DEFILLAMA, "Liquid Restaking"): Category.LIQUID_STAKING,
    (Source.DEFILLAMA, "Yield"): Category.YIELD,
    (Source.DEFILLAMA, "Yield Aggregator"): Category.YIELD,
    (Source.DEFILLAMA, "Basis Trading"): Category.YIELD,
    (Source.DEFILLAMA, "DePIN"): Category.DEPIN,
}

# CoinGecko's platform ids and DefiLlama's chain names, slugified, that name one chain
# differently; both land on the slug the bundled catalogue uses.
CHAIN_ALIASES = {
    "arbitrum-one": "arbitrum",
    "binance-smart-chain": "bsc",
    "bnb-chain": "bsc",
    "polygon-pos": "polygon",
    "optimistic-ethereum": "optimism",
    "op-mainnet": "optimism",
    "hyperliquid-l1": "hyperliquid",
    "hyperevm": "hyperliquid",
    "avalanche-c-chain": "avalanche",
    "the-open-network": "ton",
    "near-protocol": "near",
}
CHAIN_NAMES = {"bsc": "BNB Chain", "optimism": "OP Mainnet", "hyperliquid": "Hyperliquid L1", "ton": "TON"}

_SLUG_MAX = Token._meta.get_field("slug").max_length
_CHAIN_SLUG_MAX = Chain._meta.get_field("slug").max_length


def chain_slug(name: str) -> str:
    """The Chain slug of a CoinGecko platform id or a DefiLlama chain name."""
    slug = slugify(name)[:_CHAIN_SLUG_MAX]
    return CHAIN_ALIASES.get(slug, slug)


def _chain(name: str, display: str | None = None) -> tuple[str, str]:
    slug = chain_slug(name)
    return slug, CHAIN_NAMES.get(slug) or display or slug.replace("-", " ").title()


@dataclass
class Listed:
    """A coin the providers put in the universe, as discovery found it."""

    coingecko_id: str
    name: str
    symbol: str
    image_url: str = ""
    rank: int | None = None
    defillama_slug: str | None = None
    chains: dict[str, str] = field(default_factory=dict)  # slug → name


@dataclass
class Discovered:
    listed: dict[str, Listed]  # by CoinGecko id
    protocols: list[ProtocolInfo]  # all of DefiLlama's, for their categories and the admin


def universe_size() -> int:
    return settings.ACCRUAL_UNIVERSE_SIZE


def universe_discover(*, market_provider, revenue_provider, size: int, progress: Progress | None = None) -> Discovered:
    """Every call discovery makes, and nothing else: no database, so no transaction is open
    while the providers are asked. Raises ProviderError when any call fails. ``progress``
    follows the calls: the listing's pages, then the coin list, protocols and fees overview."""
    calls = -(-size // getattr(market_provider, "per_page", 250)) + 3
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(min(done, calls), calls)

    listed: dict[str, Listed] = {}
    for page in market_provider.top_market_pages(size):
        for quote, rank in page:
            listed[quote.coingecko_id] = Listed(quote.coingecko_id, quote.name, quote.symbol, quote.image_url, rank)
        step()
    done = calls - 3  # a short listing ends early
    coins = {coin.id: coin for coin in market_provider.coins_list()}
    step()
    protocols = revenue_provider.protocols()
    step()
    with_fees = {row.slug for row in revenue_provider.overview_rows("dailyFees")}
    step()

    # A parent protocol and its child may share a CoinGecko id: the first slug (sorted) wins,
    # as in the protocol mapping. A gecko_id CoinGecko does not list could never be quoted.
    for protocol in sorted(protocols, key=lambda p: p.slug):
        if protocol.slug not in with_fees or not protocol.gecko_id or protocol.gecko_id not in coins:
            continue
        entry = listed.get(protocol.gecko_id)
        if entry is None:
            coin = coins[protocol.gecko_id]
            entry = listed[protocol.gecko_id] = Listed(protocol.gecko_id, coin.name, coin.symbol)
        if entry.defillama_slug is None:
            entry.defillama_slug = protocol.slug
            for chain_name in protocol.chains:
                entry.chains.setdefault(*_chain(chain_name, chain_name))
    for coin_id, entry in listed.items():
        for platform in coins[coin_id].platforms if coin_id in coins else ():
            entry.chains.setdefault(*_chain(platform))
    return Discovered(listed=listed, protocols=protocols)


def category_mappings(*, provider: str, names: set[str]) -> dict[str, str]:
    """Each provider category name → Accrual category. A name met for the first time is
    recorded (with its default from DEFAULT_CATEGORIES, else Other: then listed for editors);
    a recorded row is never changed here, so an editor's mapping wins."""
    stored = dict(CategoryMapping.objects.filter(provider=provider).values_list("name", "category"))
    new = [
        CategoryMapping(provider=provider, name=name, category=DEFAULT_CATEGORIES.get((provider, name), Category.OTHER))
        for name in sorted(names - set(stored))
    ]
    CategoryMapping.objects.bulk_create(new, ignore_conflicts=True)
    return stored | {row.name: row.category for row in new}


def category_mapping_apply(*, mapping: CategoryMapping) -> int:
    """Re-categorise now every token an edited mapping covers (a DefiLlama category name, read
    from the stored protocol list), but those whose category an editor chose; how many."""
    if mapping.provider != Source.DEFILLAMA:
        return 0
    from .models import DefiLlamaProtocol

    protocols = DefiLlamaProtocol.objects.filter(category=mapping.name).values("slug")
    tokens = Token.objects.filter(category_locked=False, defillama_slug__in=protocols)
    return tokens.exclude(category=mapping.category).update(category=mapping.category)


def _unique_slug(coingecko_id: str, taken: set[str]) -> str:
    base = slugify(coingecko_id)[:_SLUG_MAX] or "token"
    slug, n = base, 1
    while slug in taken:
        n += 1
        suffix = f"-{n}"
        slug = base[: _SLUG_MAX - len(suffix)] + suffix
    taken.add(slug)
    return slug


# The fields discovery writes on a token it already has; one bulk update of the changed.
_UPDATED = ["id", "listing", "delisted_at", "market_cap_rank", "defillama_slug", "category"]


@dataclass
class UniverseWritten:
    joined: int = 0
    returned: int = 0
    delisted: int = 0
    updated: int = 0
    recategorised: set[int] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return self.joined + self.updated


def universe_write(*, discovered: Discovered, now) -> UniverseWritten:
    """Write what discovery found, in bulk: a fixed number of queries whatever the size.

    Ids an editor locked (``mapping_locked``) stay; a category an editor chose
    (``category_locked``) stays; names and symbols are set when a token joins and left to
    editors after. Call inside a transaction."""
    written = UniverseWritten()
    services.protocols_upsert(protocols=discovered.protocols, seen_at=now)
    category_of = {p.slug: p.category for p in discovered.protocols if p.category}
    mapping = category_mappings(provider=Source.DEFILLAMA, names=set(category_of.values()))

    def mapped(defillama_slug: str | None) -> str | None:
        name = category_of.get(defillama_slug) if defillama_slug else None
        return mapping.get(name) if name else None

    stored = list(
        Token.objects.values_list(
            "pk", "slug", "coingecko_id", "defillama_slug", "listing", "delisted_at", "market_cap_rank", "category",
            "category_locked", "mapping_locked", named=True,
        )
    )  # fmt: skip
    by_gecko = {row.coingecko_id: row for row in stored if row.coingecko_id}
    by_llama = {row.defillama_slug: row for row in stored if row.defillama_slug}
    slugs = {row.slug for row in stored}
    llama_taken = set(by_llama)
    seen: set[int] = set()
    updates: list[tuple] = []  # in _UPDATED order
    new: list[tuple[Token, Listed]] = []
    chains_of: dict[int, dict[str, str]] = {}

    for entry in discovered.listed.values():
        row = by_gecko.get(entry.coingecko_id) or by_llama.get(entry.defillama_slug)
        if row is None:
            llama = entry.defillama_slug if entry.defillama_slug not in llama_taken else None
            if llama:
                llama_taken.add(llama)
            token = Token(
                slug=_unique_slug(entry.coingecko_id, slugs),
                symbol=entry.symbol[:32],
                name=entry.name[:200],
                coingecko_id=entry.coingecko_id,
                defillama_slug=llama,
                image_url=entry.image_url,
                category=mapped(llama) or Category.OTHER,
                listing=Listing.ACTIVE,
                market_cap_rank=entry.rank,
            )
            new.append((token, entry))
            continue
        if row.pk in seen:  # two entries found one token (an editor's mapping): the first counts
            continue
        seen.add(row.pk)
        chains_of[row.pk] = entry.chains
        llama = row.defillama_slug
        offered = entry.defillama_slug
        if llama is None and offered and offered not in llama_taken and not row.mapping_locked:
            llama = offered
            llama_taken.add(llama)
        category = mapped(llama) if mapped(llama) and not row.category_locked else row.category
        if category != row.category:
            written.recategorised.add(row.pk)
        if row.listing != Listing.ACTIVE:
            written.returned += 1
        after = (row.pk, Listing.ACTIVE, None, entry.rank, llama, category)
        if after != (row.pk, row.listing, row.delisted_at, row.market_cap_rank, row.defillama_slug, row.category):
            updates.append(after)

    for row in stored:
        if row.pk not in seen and row.listing == Listing.ACTIVE:
            updates.append((row.pk, Listing.DELISTED, now, None, row.defillama_slug, row.category))
            written.delisted += 1

    chains = {slug: name for entry in discovered.listed.values() for slug, name in entry.chains.items()}
    known_chains = set(Chain.objects.filter(slug__in=list(chains)).values_list("slug", flat=True))
    Chain.objects.bulk_create(
        [Chain(slug=slug, name=name) for slug, name in chains.items() if slug not in known_chains],
        ignore_conflicts=True,  # an editor's name for a chain stays
    )
    Token.objects.bulk_create([token for token, _ in new], batch_size=services.UPSERT_BATCH)
    chains_of.update({token.pk: entry.chains for token, entry in new})
    _chains_add(chains_of)
    bulk.update_rows(Token, _UPDATED, updates)
    written.joined = len(new)
    written.updated = len(updates)
    return written


def _chains_add(chains_of: dict[int, dict[str, str]]) -> None:
    """Link tokens to the chains discovery found for them. Links are only added: a chain an
    editor added stays, and one a provider stops naming costs nothing to keep."""
    ids = dict(Chain.objects.filter(slug__in={s for c in chains_of.values() for s in c}).values_list("slug", "id"))
    through = Token.chains.through
    wanted = {(pk, ids[slug]) for pk, chains in chains_of.items() for slug in chains}
    existing = set(through.objects.values_list("token_id", "chain_id"))
    through.objects.bulk_create(
        [through(token_id=t, chain_id=c) for t, c in sorted(wanted - existing)],
        batch_size=services.UPSERT_BATCH,
        ignore_conflicts=True,
    )


def universe_refresh(
    *,
    market_provider,
    revenue_provider,
    size: int | None = None,
    now=None,
    progress: Progress | None = None,
) -> RefreshResult:
    """Discover the universe, then write it: every call first, outside any transaction; then
    one short transaction of bulk writes, so a failure at any point leaves nothing of the
    refresh written. Recorded as a SyncRun of kind "universe"."""
    if refused := _refused(market_provider, "universe"):
        return refused
    size = size or universe_size()
    if size < 1:
        raise ValueError("the universe size must be at least 1")
    result = RefreshResult(run=services.sync_run_start(provider=_source_of(market_provider), kind="universe"))
    if data_set_of(market_provider) == DataSet.Mode.SAMPLE or not hasattr(market_provider, "top_market_pages"):
        return _finish(result, market_provider, 0, 0, error=SAMPLE_REFUSAL)
    try:
        discovered = universe_discover(
            market_provider=market_provider, revenue_provider=revenue_provider, size=size, progress=progress
        )
    except ProviderError as exc:  # nothing written
        logger.warning("universe discovery failed: %s", exc)
        return _finish(result, market_provider, 0, 0, error=f"{type(exc).__name__}: {exc}")
    try:
        with transaction.atomic():
            if discovered.listed:
                data_set_claim(mode=DataSet.Mode.LIVE)
            written = universe_write(discovered=discovered, now=now or timezone.now())
    except DataSetConflict as exc:  # the other set arrived meanwhile: nothing written
        return _finish(result, market_provider, 0, 0, error=str(exc))
    logger.info(
        "universe: %d listed, %d joined, %d returned, %d delisted, %d recategorised",
        len(discovered.listed),
        written.joined,
        written.returned,
        written.delisted,
        len(written.recategorised),
    )
    result.changed_tokens = written.recategorised
    return _finish(result, market_provider, written.rows, pages=1)
