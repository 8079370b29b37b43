"""DefiLlama: parsing of /summary/fees/{slug} and /protocols into normalised rows.

One ``/summary/fees`` call returns one series (``dataType`` = dailyFees, dailyRevenue or
dailyHoldersRevenue); ``merge_revenue`` joins the three into one RevenuePoint per UTC day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .base import ProviderDataError, RevenuePoint
from .parsing import number, optional_str, require_dict, require_list, require_str, unix_seconds

DATA_TYPES = ("dailyFees", "dailyRevenue", "dailyHoldersRevenue")


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    slug: str
    name: str
    symbol: str
    gecko_id: str | None
    category: str


def parse_daily_series(slug: str, data_type: str, payload: Any) -> dict[dt.date, Decimal]:
    """``totalDataChart`` of ``GET /summary/fees/{slug}?dataType=…``: {UTC date: amount}."""
    where = f"summary/fees/{slug}?dataType={data_type}"
    body = require_dict(payload, where)
    series: dict[dt.date, Decimal] = {}
    for index, pair in enumerate(require_list(body.get("totalDataChart"), f"{where}.totalDataChart")):
        pair_where = f"{where}.totalDataChart[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProviderDataError(f"{pair_where}: expected [timestamp, value]")
        day = unix_seconds(pair[0], pair_where).date()
        amount = number(pair[1], pair_where)
        if amount < 0:
            raise ProviderDataError(f"{pair_where}: negative amount")
        series[day] = amount
    return series


def merge_revenue(
    slug: str,
    *,
    fees: dict[dt.date, Decimal] | None,
    revenue: dict[dt.date, Decimal] | None,
    holders_revenue: dict[dt.date, Decimal] | None,
) -> list[RevenuePoint]:
    """One point per day present in any series; a series that is absent stays None."""
    days = set(fees or {}) | set(revenue or {}) | set(holders_revenue or {})
    return [
        RevenuePoint(
            defillama_slug=slug,
            date=day,
            fees=(fees or {}).get(day),
            revenue=(revenue or {}).get(day),
            holders_revenue=(holders_revenue or {}).get(day),
        )
        for day in sorted(days)
    ]


def parse_protocols(payload: Any) -> list[ProtocolInfo]:
    """``GET /protocols``: the flat list; ``gecko_id`` links a protocol to CoinGecko (often null)."""
    protocols = []
    for index, raw in enumerate(require_list(payload, "protocols")):
        where = f"protocols[{index}]"
        row = require_dict(raw, where)
        protocols.append(
            ProtocolInfo(
                slug=require_str(row, "slug", where),
                name=require_str(row, "name", where),
                symbol=optional_str(row, "symbol", where),
                gecko_id=optional_str(row, "gecko_id", where) or None,
                category=optional_str(row, "category", where),
            )
        )
    return protocols
