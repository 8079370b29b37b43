"""CoinGecko: parsing of /coins/markets and /coins/{id}/market_chart into normalised rows.

The shapes are CoinGecko's own (PROVIDERS.md). Parsing is all-or-nothing: one bad row
rejects the whole response, so a malformed page never writes partial data.
"""

from __future__ import annotations

from typing import Any

from .base import MarketQuote, PricePoint, ProviderDataError
from .parsing import (
    iso_datetime,
    number,
    optional_number,
    optional_str,
    require_dict,
    require_list,
    require_str,
    unix_millis,
)


def parse_markets(payload: Any) -> list[MarketQuote]:
    """Rows of ``GET /coins/markets``: id, symbol, name, last_updated always; numbers may be null."""
    quotes = []
    for index, raw in enumerate(require_list(payload, "coins/markets")):
        where = f"coins/markets[{index}]"
        row = require_dict(raw, where)
        quotes.append(
            MarketQuote(
                coingecko_id=require_str(row, "id", where),
                symbol=require_str(row, "symbol", where).upper(),
                name=require_str(row, "name", where),
                image_url=optional_str(row, "image", where),
                last_updated=iso_datetime(row.get("last_updated"), f"{where}.last_updated"),
                price=optional_number(row, "current_price", where),
                market_cap=optional_number(row, "market_cap", where),
                fdv=optional_number(row, "fully_diluted_valuation", where),
                volume=optional_number(row, "total_volume", where),
                circulating_supply=optional_number(row, "circulating_supply", where),
                total_supply=optional_number(row, "total_supply", where),
                max_supply=optional_number(row, "max_supply", where),
            )
        )
    return quotes


def _series(payload: dict, key: str, where: str) -> dict:
    """A ``[[ms, value], …]`` series keyed by UTC date; the latest point of a date wins
    (CoinGecko's last point is "now", after that day's 00:00 point)."""
    by_date: dict = {}
    for index, pair in enumerate(require_list(payload.get(key), f"{where}.{key}")):
        pair_where = f"{where}.{key}[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProviderDataError(f"{pair_where}: expected [timestamp, value]")
        at = unix_millis(pair[0], pair_where)
        value = None if pair[1] is None else number(pair[1], pair_where)
        previous = by_date.get(at.date())
        if previous is None or previous[0] <= at:
            by_date[at.date()] = (at, value)
    return by_date


def parse_market_chart(coingecko_id: str, payload: Any) -> list[PricePoint]:
    """Daily points of ``GET /coins/{id}/market_chart``: one PricePoint per UTC date."""
    where = f"market_chart[{coingecko_id}]"
    chart = require_dict(payload, where)
    prices = _series(chart, "prices", where)
    caps = _series(chart, "market_caps", where)
    volumes = _series(chart, "total_volumes", where)
    points = []
    for date in sorted(prices):
        observed_at, price = prices[date]
        points.append(
            PricePoint(
                coingecko_id=coingecko_id,
                date=date,
                observed_at=observed_at,
                price=price,
                market_cap=caps.get(date, (None, None))[1],
                volume=volumes.get(date, (None, None))[1],
            )
        )
    return points
