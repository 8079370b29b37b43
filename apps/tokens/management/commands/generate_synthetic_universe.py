"""A large synthetic universe for benchmarks (20,000 tokens, a year of history by default).

Kept apart from the real data: every synthetic token's slug starts with ``synth-`` and its
facts carry no provider ids, so ``--delete`` removes them all and nothing else. Rows go
through the same ingestion services as provider data.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from apps.tokens import services, snapshots
from apps.tokens.data_set import DataSetConflict, data_set_claim
from apps.tokens.models import Category, DataSet, Source, Token
from apps.tokens.providers.base import Catalogue, PricePoint, RevenuePoint, TokenInfo

SLUG_PREFIX = "synth-"
CHAINS = ["ethereum", "solana", "arbitrum", "base", "bsc", "hyperliquid-l1"]


def synthetic_series(index: int, days: list[dt.date], seed: int) -> tuple[list[PricePoint], list[RevenuePoint]]:
    """Deterministic random walks for token ``index``: price, cap, volume, fees and revenue."""
    rng = random.Random(seed * 1_000_003 + index)
    price = 10 ** rng.uniform(-4, 3)
    supply = 10 ** rng.uniform(6, 10)
    daily_fees = 10 ** rng.uniform(2, 6) if rng.random() < 0.6 else 0.0
    take = rng.uniform(0.05, 1.0)
    to_holders = rng.uniform(0.0, 1.0)
    prices, revenue = [], []
    for day in days:
        price *= 1 + rng.gauss(0.0005, 0.04)
        daily_fees *= 1 + rng.gauss(0.001, 0.08)
        observed = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        prices.append(
            PricePoint(
                coingecko_id="",
                date=day,
                observed_at=observed,
                price=Decimal(f"{price:.10g}"),
                market_cap=Decimal(f"{price * supply:.2f}"),
                volume=Decimal(f"{price * supply * rng.uniform(0.005, 0.2):.2f}"),
            )
        )
        if daily_fees:
            fees = Decimal(f"{daily_fees:.2f}")
            rev = Decimal(f"{daily_fees * take:.2f}")
            revenue.append(
                RevenuePoint(
                    defillama_slug="",
                    date=day,
                    fees=fees,
                    revenue=rev,
                    holders_revenue=Decimal(f"{float(rev) * to_holders:.2f}"),
                )
            )
    return prices, revenue


class Command(BaseCommand):
    help = "Generate (or --delete) a synthetic universe of tokens for benchmarks. Not for the normal database."

    def add_arguments(self, parser):
        parser.add_argument("--tokens", type=int, default=20_000)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--end", type=dt.date.fromisoformat, default=None, help="Last day (default: yesterday)")
        parser.add_argument("--delete", action="store_true", help="Remove every synthetic token and its facts")

    def handle(self, *args, tokens: int, days: int, seed: int, end: dt.date | None, delete: bool, **options):
        if delete:
            count, _ = Token.objects.filter(slug__startswith=SLUG_PREFIX).delete()
            self.stdout.write(f"Deleted {count} synthetic rows.")
            return
        if tokens < 1 or days < 1:
            raise CommandError("--tokens and --days must be positive")
        try:  # generated figures: a sample data set, never mixed into live data
            data_set_claim(mode=DataSet.Mode.SAMPLE)
        except DataSetConflict as exc:
            raise CommandError(str(exc)) from exc
        end = end or (timezone.now().date() - dt.timedelta(days=1))
        dates = [end - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
        rng = random.Random(seed)
        categories = [c for c in Category.values if c != Category.OTHER]
        catalogue = Catalogue(
            tokens=[
                TokenInfo(
                    slug=f"{SLUG_PREFIX}{i:05d}",
                    symbol=f"S{i:05d}",
                    name=f"Synthetic {i:05d}",
                    category=rng.choice(categories),
                    chains=tuple(rng.sample(CHAINS, k=rng.randint(1, 3))),
                )
                for i in range(tokens)
            ]
        )
        fetched_at = timezone.now()
        services.catalogue_upsert(catalogue=catalogue, source=Source.SAMPLE, fetched_at=fetched_at)
        ids = dict(Token.objects.filter(slug__startswith=SLUG_PREFIX).values_list("slug", "id"))
        for i in tqdm(range(tokens), desc="history", unit="token", file=self.stderr._out):
            token_id = ids[f"{SLUG_PREFIX}{i:05d}"]
            prices, revenue = synthetic_series(i, dates, seed)
            services.prices_upsert(
                token_id=token_id, points=prices, source=Source.SAMPLE, sync_run=None, fetched_at=fetched_at
            )
            services.revenue_upsert(
                token_id=token_id, points=revenue, source=Source.SAMPLE, sync_run=None, fetched_at=fetched_at
            )
        with tqdm(total=tokens, desc="snapshot", unit="token", file=self.stderr._out) as bar:
            snapshots.snapshots_recompute(token_ids=ids.values(), since=end, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"{tokens} synthetic tokens with {days} days of history, to {end}."))
