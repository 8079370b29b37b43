"""CoinGecko: parsing of /coins/markets, /coins/{id}/market_chart and /coins/list into
normalised rows, and the live client (``CoinGeckoClient``).

The shapes are CoinGecko's own (PROVIDERS.md). Parsing is all-or-nothing: one bad row
rejects the whole response, so a malformed page never writes partial data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from django.conf import settings

from .base import CoinListing, MarketQuote, PricePoint, ProviderDataError
from .http import HttpStats, ProviderHttpClient, provider_http_options
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
    times: dict[str, dt.datetime] = {}  # last_updated text → time: many coins share one
    for index, raw in enumerate(require_list(payload, "coins/markets")):
        quote = _plain_quote(raw, times)
        quotes.append(quote if quote is not None else _quote(raw, f"coins/markets[{index}]"))
    return quotes


_MARKET_NUMBERS = (
    "current_price",
    "market_cap",
    "fully_diluted_valuation",
    "total_volume",
    "circulating_supply",
    "total_supply",
    "max_supply",
)


# CoinGecko sends 0, not null, for these when it does not know them (a coin whose
# circulating supply it has not verified has a market cap of 0): read as unknown, here, so
# that nothing downstream (snapshots, screener, ratings) takes them for a real zero.
_ZERO_IS_UNKNOWN = frozenset(
    {"market_cap", "fully_diluted_valuation", "circulating_supply", "total_supply", "max_supply"}
)


def _known(value: Decimal | None) -> Decimal | None:
    """A figure CoinGecko gives as 0 when it does not know it: None for 0."""
    return None if value is None or value == 0 else value


class RankedQuote(NamedTuple):
    """A row of the discovery listing (``/coins/markets`` without ids): the quote and the
    coin's ``market_cap_rank`` (null for a coin whose market cap CoinGecko does not know)."""

    quote: MarketQuote
    rank: int | None


def parse_ranked_markets(payload: Any) -> list[RankedQuote]:
    """``parse_markets`` plus each row's ``market_cap_rank`` (a positive integer or null)."""
    quotes = parse_markets(payload)
    ranked = []
    for index, (row, parsed) in enumerate(zip(payload, quotes, strict=True)):
        rank = row.get("market_cap_rank")
        if rank is not None and (type(rank) is not int or rank < 1):
            raise ProviderDataError(f"coins/markets[{index}]: field 'market_cap_rank' must be a positive integer")
        ranked.append(RankedQuote(parsed, rank))
    return ranked


def _plain_quote(row: Any, times: dict[str, dt.datetime]) -> MarketQuote | None:
    """The quote of a row that is plainly well formed (the common case, checked in one pass),
    else None: ``_quote`` then reads it strictly and names what is wrong. Both give the same
    quote for every row this accepts (tests/tokens/providers/test_coingecko.py)."""
    if type(row) is not dict:
        return None
    ident, symbol, name, image, updated = (
        row.get("id"),
        row.get("symbol"),
        row.get("name"),
        row.get("image"),
        row.get("last_updated"),
    )
    if not (
        type(ident) is str
        and type(symbol) is str
        and type(name) is str
        and type(updated) is str
        and ident
        and symbol
        and name
        and (image is None or type(image) is str)
    ):
        return None
    numbers = []
    for key in _MARKET_NUMBERS:
        value = row.get(key)
        kind = type(value)
        if value is None:
            numbers.append(None)
        elif kind is Decimal and value.is_finite():
            numbers.append(value)
        elif kind is float and math.isfinite(value):
            numbers.append(Decimal(repr(value)))
        elif kind is int:
            numbers.append(Decimal(value))
        else:
            return None
        if key in _ZERO_IS_UNKNOWN and numbers[-1] == 0:
            numbers[-1] = None
    at = times.get(updated)
    if at is None:
        try:
            at = times[updated] = iso_datetime(updated, "")
        except ProviderDataError:
            return None
    return MarketQuote(ident, symbol.upper(), name, at, image or "", *numbers)


def _quote(row: Any, where: str) -> MarketQuote:
    row = require_dict(row, where)
    return MarketQuote(
        coingecko_id=require_str(row, "id", where),
        symbol=require_str(row, "symbol", where).upper(),
        name=require_str(row, "name", where),
        image_url=optional_str(row, "image", where),
        last_updated=iso_datetime(row.get("last_updated"), f"{where}.last_updated"),
        price=optional_number(row, "current_price", where),
        market_cap=_known(optional_number(row, "market_cap", where)),
        fdv=_known(optional_number(row, "fully_diluted_valuation", where)),
        volume=optional_number(row, "total_volume", where),
        circulating_supply=_known(optional_number(row, "circulating_supply", where)),
        total_supply=_known(optional_number(row, "total_supply", where)),
        max_supply=_known(optional_number(row, "max_supply", where)),
    )


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
                market_cap=_known(caps.get(date, (None, None))[1]),  # 0 here too: not known
                volume=volumes.get(date, (None, None))[1],
            )
        )
    return points


def parse_coins_list(payload: Any) -> list[CoinListing]:
    """``GET /coins/list?include_platform=true``: ``platforms`` maps a chain to a contract
    address, which may be null (or an empty string, which is read as null)."""
    listings = []
    for index, raw in enumerate(require_list(payload, "coins/list")):
        where = f"coins/list[{index}]"
        row = require_dict(raw, where)
        platforms_raw = row.get("platforms")
        platforms: dict[str, str | None] = {}
        if platforms_raw is not None:
            for chain, address in require_dict(platforms_raw, f"{where}.platforms").items():
                if address is not None and not isinstance(address, str):
                    raise ProviderDataError(f"{where}.platforms[{chain!r}]: expected an address or null")
                if chain:
                    platforms[chain] = address or None
        listings.append(
            CoinListing(
                id=require_str(row, "id", where),
                symbol=require_str(row, "symbol", where).upper(),
                name=require_str(row, "name", where),
                platforms=platforms,
            )
        )
    return listings


# --- Live client -----------------------------------------------------------------------

PROVIDER = "coingecko"
DEFAULT_BASE_URL = "https://api.coingecko.com/api/v3"
PRICE_CHANGE_WINDOWS = "24h,7d,30d"


def auth_headers(base_url: str, api_key: str | None) -> dict[str, str]:
    """The key header for the host: ``x-cg-pro-api-key`` on ``pro-api.*``, else the demo
    header; none without a key. Keys never go in the URL."""
    if not api_key:
        return {}
    host = urlsplit(base_url).hostname or ""
    name = "x-cg-pro-api-key" if host.startswith("pro-api.") else "x-cg-demo-api-key"
    return {name: api_key}


class CoinGeckoClient:
    """The live CoinGecko source: same method names as SampleProvider where they overlap.

    ``http`` may be a preconfigured ProviderHttpClient (tests, a shared client); the key
    header is added to it. Otherwise one is built from ``base_url`` and ``http_options``
    (timeouts, retries, ``circuit``, ``rate_limit``, ``sleep``, ``transport``…).
    """

    name = PROVIDER

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        http: ProviderHttpClient | None = None,
        per_page: int = 250,
        ids_per_request: int = 250,
        price_history_days: int = 365,
        **http_options: Any,
    ) -> None:
        headers = {"accept": "application/json", **auth_headers(base_url, api_key)}
        if http is None:
            http = ProviderHttpClient(PROVIDER, base_url, headers=headers, **http_options)
        else:
            http.update_headers(headers)
        self.http = http
        self.per_page = per_page
        self.ids_per_request = ids_per_request
        self.price_history_days = price_history_days

    @classmethod
    def from_settings(cls, **overrides: Any) -> CoinGeckoClient:
        """Settings: COINGECKO_BASE_URL, COINGECKO_API_KEY, COINGECKO_RATE_LIMIT_PER_MINUTE
        (default 30), REDIS_URL (shared circuit and rate limit), PROVIDER_* tuning."""
        options = provider_http_options(PROVIDER, rate_limit_setting="COINGECKO_RATE_LIMIT_PER_MINUTE", default_rpm=30)
        options.update(overrides)
        return cls(
            getattr(settings, "COINGECKO_BASE_URL", "") or DEFAULT_BASE_URL,
            getattr(settings, "COINGECKO_API_KEY", "") or None,
            **options,
        )

    @property
    def stats(self) -> HttpStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def markets(self, ids: Sequence[str]) -> list[MarketQuote]:
        """``/coins/markets`` for ``ids`` (chunks of ``ids_per_request``, paged until a short
        page). All pages parse or the call fails: no partial result."""
        return [quote for page in self.market_pages(ids) for quote in page]

    def market_pages(self, ids: Sequence[str]) -> Iterator[list[MarketQuote]]:
        """``markets`` a page at a time, each page fetched as the previous one is consumed, so
        a caller can write one while the next is on its way. Each id comes once (its first
        quote). A page that fails raises, after the pages already given: a caller that must
        not keep part of the listing writes them in a transaction (market_refresh does)."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        seen: set[str] = set()
        for start in range(0, len(wanted), self.ids_per_request):
            chunk = wanted[start : start + self.ids_per_request]
            max_pages = len(chunk) // self.per_page + 1
            page = 1
            while True:
                payload = self.http.get_json(
                    "/coins/markets",
                    params={
                        "vs_currency": "usd",
                        "ids": ",".join(chunk),
                        "per_page": self.per_page,
                        "page": page,
                        "price_change_percentage": PRICE_CHANGE_WINDOWS,
                    },
                )
                rows = parse_markets(payload)
                if len(rows) > self.per_page:
                    raise ProviderDataError(f"coins/markets page {page}: {len(rows)} rows for per_page={self.per_page}")
                new = []
                for row in rows:
                    if row.coingecko_id not in seen:
                        seen.add(row.coingecko_id)
                        new.append(row)
                yield new
                # A short page ends the listing; so does having every id asked for, which
                # saves the empty page that would follow a full one.
                if len(rows) < self.per_page or all(i in seen for i in chunk):
                    break
                page += 1
                if page > max_pages:
                    raise ProviderDataError(f"coins/markets: more pages than {len(chunk)} ids can fill")

    def top_market_pages(self, limit: int) -> Iterator[list[RankedQuote]]:
        """The ``limit`` largest coins by market cap, a page of ``per_page`` at a time
        (``/coins/markets`` without ids, PROVIDERS.md): ceil(limit / per_page) calls at most,
        fewer when a short page ends the listing. A coin that moves up a page between two
        calls comes once (its first row); one that moves down may be missed until the next run."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        seen: set[str] = set()
        for page in range(1, -(-limit // self.per_page) + 1):
            payload = self.http.get_json(
                "/coins/markets",
                params={"vs_currency": "usd", "order": "market_cap_desc", "per_page": self.per_page, "page": page},
            )
            rows = parse_ranked_markets(payload)
            if len(rows) > self.per_page:
                raise ProviderDataError(f"coins/markets page {page}: {len(rows)} rows for per_page={self.per_page}")
            new = [row for row in rows if row.quote.coingecko_id not in seen]
            new = new[: limit - len(seen)]
            seen.update(row.quote.coingecko_id for row in new)
            yield new
            if len(rows) < self.per_page or len(seen) >= limit:
                break

    def market_chart(self, coingecko_id: str, days: int) -> list[PricePoint]:
        """``/coins/{id}/market_chart?vs_currency=usd&days=N&interval=daily``: one point per
        UTC date (the last one is "now")."""
        if days < 1:
            raise ValueError("days must be at least 1")
        payload = self.http.get_json(
            f"/coins/{quote(coingecko_id, safe='')}/market_chart",
            params={"vs_currency": "usd", "days": days, "interval": "daily"},
        )
        return parse_market_chart(coingecko_id, payload)

    def price_history(self, coingecko_id: str, days: int | None = None) -> list[PricePoint]:
        return self.market_chart(coingecko_id, days or self.price_history_days)

    def coins_list(self) -> list[CoinListing]:
        return parse_coins_list(self.http.get_json("/coins/list", params={"include_platform": "true"}))
