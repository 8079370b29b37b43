"""Small rated universes for tests: tokens with deterministic daily prices and revenue,
their snapshots, and (optionally) their ratings."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from django.utils import timezone

from apps.tokens.models import Category, PriceDay, RevenueDay, Source, Token
from apps.tokens.snapshots import snapshots_recompute
from tests.factories import TokenFactory

END = dt.date(2026, 6, 30)


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")


def add_history(
    token: Token,
    *,
    days: int,
    end: dt.date = END,
    price: float = 10.0,
    drift: float = 0.001,
    wobble: float = 0.03,
    supply: float = 1e8,
    daily_revenue: float | None = 10_000.0,
    revenue_days: int | None = None,
    holders_share: float = 0.5,
    seed: int = 1,
) -> None:
    """``days`` days of prices to ``end`` (a smooth deterministic walk), and revenue on the
    last ``revenue_days`` of them (all by default; None revenue: no revenue rows)."""
    fetched = timezone.now()
    prices, revenue = [], []
    revenue_days = days if revenue_days is None else revenue_days
    for n in range(days):
        day = end - dt.timedelta(days=days - 1 - n)
        level = price * (1 + drift) ** n * (1 + wobble * math.sin(n * 0.7 + seed))
        observed = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        prices.append(
            PriceDay(
                token=token,
                date=day,
                price_usd=Decimal(f"{level:.8f}"),
                market_cap_usd=_money(level * supply),
                volume_usd=_money(level * supply * 0.02 * (1 + 0.5 * math.sin(n + seed))),
                observed_at=observed,
                source=Source.SAMPLE,
                fetched_at=fetched,
            )
        )
        if daily_revenue is not None and n >= days - revenue_days:
            amount = daily_revenue * (1 + 0.2 * math.sin(n * 0.3 + seed))
            revenue.append(
                RevenueDay(
                    token=token,
                    date=day,
                    fees_usd=_money(amount * 2),
                    revenue_usd=_money(amount),
                    holders_revenue_usd=_money(amount * holders_share),
                    source=Source.SAMPLE,
                    fetched_at=fetched,
                )
            )
    PriceDay.objects.bulk_create(prices)
    RevenueDay.objects.bulk_create(revenue)


def rated_universe(days: int = 220, end: dt.date = END) -> list[Token]:
    """Five tokens in two categories, of different sizes, revenue and trends; snapshots done."""
    specs = [
        ("alpha", Category.LENDING, {"price": 10, "drift": 0.002, "daily_revenue": 50_000, "seed": 1}),
        ("beta", Category.LENDING, {"price": 2, "drift": -0.001, "daily_revenue": 5_000, "seed": 2}),
        ("gamma", Category.LENDING, {"price": 50, "drift": 0.0005, "daily_revenue": 20_000, "seed": 3}),
        ("delta", Category.LAYER1, {"price": 100, "drift": 0.001, "daily_revenue": None, "seed": 4}),
        (
            "epsilon",
            Category.LAYER1,
            {"price": 1, "drift": 0.003, "daily_revenue": 1_000, "revenue_days": 40, "seed": 5},
        ),
    ]
    tokens = []
    for slug, category, kwargs in specs:
        token = TokenFactory(slug=slug, name=slug.title(), symbol=slug[:3].upper(), category=category)
        add_history(token, days=days, end=end, **kwargs)
        tokens.append(token)
    snapshots_recompute(token_ids=[t.pk for t in tokens])
    return tokens
