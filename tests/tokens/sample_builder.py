"""Writes a tiny data set in the providers' formats, with numbers easy to compute by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

AS_OF = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAYS = 180


def _ms(day: dt.date, minutes: int = 0) -> int:
    moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    return int(moment.timestamp() * 1000)


def _s(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC).timestamp())


def _summary(slug: str, series: list[tuple[dt.date, float]]) -> dict:
    chart = [[_s(day), value] for day, value in series]
    total = sum(value for _, value in series)
    return {
        "id": "1",
        "name": slug.title(),
        "displayName": slug.title(),
        "slug": slug,
        "gecko_id": None,
        "chains": ["Ethereum"],
        "total24h": series[-1][1] if series else 0,
        "total48hto24h": series[-2][1] if len(series) > 1 else 0,
        "total7d": sum(v for _, v in series[-7:]),
        "total30d": sum(v for _, v in series[-30:]),
        "totalAllTime": total,
        "change_1d": 0,
        "totalDataChart": chart,
        "totalDataChartBreakdown": [[t, {"ethereum": {slug: v}}] for t, v in chart],
    }


def write_sample(root: Path, *, alpha_revenue_scale: float = 1.0) -> Path:
    """alpha: full history; beta: prices only; gamma: 20 days of revenue (too few to annualise)."""
    (root / "coingecko" / "market_chart").mkdir(parents=True)
    today = AS_OF.date()
    days = [today - dt.timedelta(days=n) for n in range(DAYS, 0, -1)]  # through yesterday
    (root / "manifest.json").write_text(json.dumps({"as_of": "2026-03-01T00:00:00Z", "seed": 1, "days": DAYS}))
    catalogue = {
        "chains": [{"slug": "ethereum", "name": "Ethereum"}, {"slug": "solana", "name": "Solana"}],
        "tokens": [
            {
                "slug": "alpha",
                "symbol": "alp",
                "name": "Alpha",
                "category": "perps-dex",
                "chains": ["ethereum", "solana"],
                "coingecko_id": "alpha-cg",
                "defillama_slug": "alpha-llama",
                "website": "https://alpha.example",
                "description": "Alpha perps.",
            },
            {
                "slug": "beta",
                "symbol": "BET",
                "name": "Beta",
                "category": "layer-1",
                "chains": ["ethereum"],
                "coingecko_id": "beta-cg",
                "defillama_slug": None,
                "website": "",
                "description": "",
            },
            {
                "slug": "gamma",
                "symbol": "GAM",
                "name": "Gamma",
                "category": "perps-dex",
                "chains": ["solana"],
                "coingecko_id": "gamma-cg",
                "defillama_slug": "gamma-llama",
                "website": "",
                "description": "",
            },
        ],
        "policies": [
            {
                "token": "alpha",
                "mechanism": "buyback",
                "share_of_revenue": "0.5",
                "basis": "revenue",
                "since": "2025-01-01",
                "until": None,
                "description": "Half of revenue buys back ALP.",
                "source_url": "https://alpha.example/docs",
            },
        ],
        "events": [
            {
                "token": "alpha",
                "date": str(today - dt.timedelta(days=n)),
                "kind": "buyback",
                "usd_amount": "70000",
                "token_amount": "7000",
                "reference": f"alpha-bb-{n}",
                "note": "",
            }
            for n in (1, 8, 15, 22, 40)
        ]
        + [
            {
                "token": "alpha",
                "date": str(today - dt.timedelta(days=n)),
                "kind": "burn",
                "usd_amount": None,
                "token_amount": "5000000",
                "reference": f"alpha-burn-{n}",
                "note": "",
            }
            for n in (10, 100)
        ],
        "reports": [
            {
                "token": "alpha",
                "period": "arr",
                "period_start": "2026-01-01",
                "period_end": "2026-12-31",
                "revenue": "5500000",
                "fees": None,
                "holders_revenue": None,
                "source_url": "https://alpha.example/arr",
                "note": "RTK network ARR",
            },
        ],
    }
    (root / "catalogue.json").write_text(json.dumps(catalogue))
    markets = []
    for cg_id, price, cap, fdv, max_supply in (
        ("alpha-cg", 10, 1_000_000_000, 2_000_000_000, 1_000_000_000),
        ("beta-cg", 2, 500_000_000, None, None),
        ("gamma-cg", 1, 100_000_000, 100_000_000, None),
    ):
        markets.append(
            {
                "id": cg_id,
                "symbol": cg_id[:3],
                "name": cg_id,
                "image": "",
                "current_price": price,
                "market_cap": cap,
                "fully_diluted_valuation": fdv,
                "total_volume": 1_000_000,
                "circulating_supply": cap / price,
                "total_supply": cap / price,
                "max_supply": max_supply,
                "last_updated": "2026-03-01T00:04:12.000Z",
            }
        )
        chart_days = [*days, today]
        minutes = [0] * len(days) + [4]
        (root / "coingecko" / "market_chart" / f"{cg_id}.json").write_text(
            json.dumps(
                {
                    "prices": [[_ms(d, m), price] for d, m in zip(chart_days, minutes, strict=True)],
                    "market_caps": [[_ms(d, m), cap] for d, m in zip(chart_days, minutes, strict=True)],
                    "total_volumes": [[_ms(d, m), 1_000_000] for d, m in zip(chart_days, minutes, strict=True)],
                }
            )
        )
    (root / "coingecko" / "coins_markets.json").write_text(json.dumps(markets))

    # alpha: revenue 40k a day, 50k in the last 30 days; fees twice revenue; holders half of it.
    alpha = root / "defillama" / "summary_fees" / "alpha-llama"
    alpha.mkdir(parents=True)
    revenue = [(d, (50_000 if (today - d).days <= 30 else 40_000) * alpha_revenue_scale) for d in days]
    (alpha / "dailyFees.json").write_text(json.dumps(_summary("alpha-llama", [(d, v * 2) for d, v in revenue])))
    (alpha / "dailyRevenue.json").write_text(json.dumps(_summary("alpha-llama", revenue)))
    (alpha / "dailyHoldersRevenue.json").write_text(
        json.dumps(_summary("alpha-llama", [(d, v / 2) for d, v in revenue]))
    )
    gamma = root / "defillama" / "summary_fees" / "gamma-llama"
    gamma.mkdir(parents=True)
    (gamma / "dailyFees.json").write_text(json.dumps(_summary("gamma-llama", [(d, 3000) for d in days[-20:]])))
    (gamma / "dailyRevenue.json").write_text(json.dumps(_summary("gamma-llama", [(d, 1000) for d in days[-20:]])))
    (root / "defillama" / "protocols.json").write_text(
        json.dumps(
            [
                {
                    "id": "1",
                    "name": "Alpha",
                    "symbol": "ALP",
                    "slug": "alpha-llama",
                    "gecko_id": "alpha-cg",
                    "category": "Derivatives",
                },
                {
                    "id": "2",
                    "name": "Gamma",
                    "symbol": "GAM",
                    "slug": "gamma-llama",
                    "gecko_id": None,
                    "category": "Derivatives",
                },
            ]
        )
    )
    return root
