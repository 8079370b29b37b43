"""DefiLlama: parsing of /summary/fees/{slug}, /overview/fees and /protocols into normalised
rows, and the live client (``DefiLlamaClient``).

One ``/summary/fees`` call returns one series (``dataType`` = dailyFees, dailyRevenue or
dailyHoldersRevenue); ``merge_revenue`` joins the three into one RevenuePoint per UTC day.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings

from .base import ProviderDataError, ProviderFatalError, RevenuePoint
from .http import HttpStats, ProviderHttpClient, provider_http_options, register_secret
from .parsing import (
    number,
    optional_number,
    optional_str,
    require_dict,
    require_list,
    require_str,
    unix_seconds,
)

logger = logging.getLogger(__name__)

DATA_TYPES = ("dailyFees", "dailyRevenue", "dailyHoldersRevenue")
# DefiLlama answers an unknown slug, or a series it does not track, with 400 or 404 (plain text).
NOT_TRACKED_STATUSES = (400, 404)


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    slug: str
    name: str
    symbol: str
    gecko_id: str | None
    category: str
    chains: tuple[str, ...] = ()


def parse_daily_series(slug: str, data_type: str, payload: Any, since: dt.date | None = None) -> dict[dt.date, Decimal]:
    """``totalDataChart`` of ``GET /summary/fees/{slug}?dataType=…``: {UTC date: amount}.
    Every point is checked (a bad one anywhere fails the series); only those dated ``since``
    or later are converted and returned — an incremental run needs a few of several hundred.
    An amount may be negative: a day's revenue nets out refunds and incentives, and refusing
    it would stop the protocol's whole series from updating."""
    where = f"summary/fees/{slug}?dataType={data_type}"
    body = require_dict(payload, where)
    cutoff = -math.inf if since is None else dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC).timestamp()
    series: dict[dt.date, Decimal] = {}
    for index, pair in enumerate(require_list(body.get("totalDataChart"), f"{where}.totalDataChart")):
        if type(pair) is not list or len(pair) != 2:
            raise ProviderDataError(f"{where}.totalDataChart[{index}]: expected [timestamp, value]")
        stamp, value = pair
        if type(stamp) not in _NUMBER_TYPES or type(value) not in _NUMBER_TYPES or not -math.inf < value < math.inf:
            _reject_point(f"{where}.totalDataChart[{index}]", stamp, value)
        if stamp >= cutoff:
            series[unix_seconds(stamp, where).date()] = number(value, where)
    return series


_NUMBER_TYPES = (int, float, Decimal)  # exact types: a bool or a string is not a number here


def _reject_point(where: str, stamp: Any, value: Any) -> None:
    """The reason a [timestamp, value] pair is refused (called only for a bad one)."""
    unix_seconds(stamp, where)
    number(value, where)  # refuses strings, booleans, NaN and infinities
    raise ProviderDataError(f"{where}: not a number")


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
                chains=_chain_names(row.get("chains"), f"{where}.chains"),
            )
        )
    return protocols


def _chain_names(value: Any, where: str) -> tuple[str, ...]:
    """A protocol's ``chains``: chain names (DefiLlama's own, "Ethereum", "BSC"); may be absent."""
    if value is None:
        return ()
    names = require_list(value, where)
    if not all(isinstance(name, str) for name in names):
        raise ProviderDataError(f"{where}: expected chain names")
    return tuple(name for name in names if name)


@dataclass(frozen=True, slots=True)
class FeesOverviewRow:
    """One protocol of ``GET /overview/fees?dataType=…`` (figures for that dataType)."""

    slug: str
    name: str
    defillama_id: str
    category: str
    total24h: Decimal | None
    total7d: Decimal | None = None
    total30d: Decimal | None = None
    total48hto24h: Decimal | None = None  # the day before the one total24h covers


@dataclass(frozen=True, slots=True)
class LatestTotals:
    """A protocol's last two closed days per series, as /overview/fees gives them:
    (total24h, total48hto24h). The overview names no dates: the caller checks the older
    figure against what it stored before trusting the newer one."""

    fees: tuple[Decimal | None, Decimal | None]
    revenue: tuple[Decimal | None, Decimal | None]
    holders_revenue: tuple[Decimal | None, Decimal | None]

    def day(self, which: int) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(fees, revenue, holders revenue) of the latest day (0) or the day before (1)."""
        return self.fees[which], self.revenue[which], self.holders_revenue[which]


def parse_overview(data_type: str, payload: Any) -> list[FeesOverviewRow]:
    """``protocols`` of ``GET /overview/fees``: totals may be null; the excluded charts come
    back as ``[]``. A slug listed twice keeps its first row."""
    where = f"overview/fees?dataType={data_type}"
    body = require_dict(payload, where)
    rows: dict[str, FeesOverviewRow] = {}
    for index, raw in enumerate(require_list(body.get("protocols"), f"{where}.protocols")):
        row_where = f"{where}.protocols[{index}]"
        row = require_dict(raw, row_where)
        defillama_id = row.get("defillamaId")
        if isinstance(defillama_id, int) and not isinstance(defillama_id, bool):
            defillama_id = str(defillama_id)
        if not isinstance(defillama_id, str) or not defillama_id:
            raise ProviderDataError(f"{row_where}: field 'defillamaId' must be a non-empty string")
        slug = require_str(row, "slug", row_where)
        rows.setdefault(
            slug,
            FeesOverviewRow(
                slug=slug,
                name=require_str(row, "name", row_where),
                defillama_id=defillama_id,
                category=optional_str(row, "category", row_where),
                total24h=optional_number(row, "total24h", row_where),
                total7d=optional_number(row, "total7d", row_where),
                total30d=optional_number(row, "total30d", row_where),
                total48hto24h=optional_number(row, "total48hto24h", row_where),
            ),
        )
    return list(rows.values())


# --- Live client -----------------------------------------------------------------------

PROVIDER = "defillama"
DEFAULT_BASE_URL = "https://api.llama.fi"
PRO_BASE_URL = "https://pro-api.llama.fi"


def keyed_base_url(base_url: str, api_key: str | None) -> str:
    """The paid host takes the key in the path: ``https://pro-api.llama.fi/{KEY}/api``."""
    if not api_key:
        return base_url
    host = urlsplit(base_url).hostname or ""
    if host == "api.llama.fi":
        base_url = PRO_BASE_URL
    return f"{base_url.rstrip('/')}/{quote(api_key, safe='')}/api"


class DefiLlamaClient:
    """The live DefiLlama source: same method names as SampleProvider where they overlap.

    With a key the base URL carries it (it is registered as a secret, so it is redacted from
    every log record and error message). ``http`` may be a preconfigured client whose base
    URL is used as given.
    """

    name = PROVIDER

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        http: ProviderHttpClient | None = None,
        **http_options: Any,
    ) -> None:
        register_secret(api_key)
        if http is None:
            http = ProviderHttpClient(
                PROVIDER,
                keyed_base_url(base_url, api_key),
                headers={"accept": "application/json"},
                secrets=[api_key] if api_key else [],
                **http_options,
            )
        self.http = http

    @classmethod
    def from_settings(cls, **overrides: Any) -> DefiLlamaClient:
        """Settings: DEFILLAMA_BASE_URL, DEFILLAMA_API_KEY (optional, paid host),
        DEFILLAMA_RATE_LIMIT_PER_MINUTE (optional; no published limit), REDIS_URL."""
        options = provider_http_options(PROVIDER, rate_limit_setting="DEFILLAMA_RATE_LIMIT_PER_MINUTE")
        options.update(overrides)
        return cls(
            getattr(settings, "DEFILLAMA_BASE_URL", "") or DEFAULT_BASE_URL,
            getattr(settings, "DEFILLAMA_API_KEY", "") or None,
            **options,
        )

    @property
    def stats(self) -> HttpStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def overview_rows(self, data_type: str) -> list[FeesOverviewRow]:
        if data_type not in DATA_TYPES:
            raise ValueError(f"data_type must be one of {', '.join(DATA_TYPES)}")
        payload = self.http.get_json(
            "/overview/fees",
            params={
                "dataType": data_type,
                "excludeTotalDataChart": "true",
                "excludeTotalDataChartBreakdown": "true",
            },
        )
        return parse_overview(data_type, payload)

    def overview(self, data_type: str) -> dict[str, Decimal | None]:
        """Each protocol's ``total24h`` for ``data_type``, by slug."""
        return {row.slug: row.total24h for row in self.overview_rows(data_type)}

    def latest_totals(self) -> dict[str, LatestTotals]:
        """Every protocol's last two closed days, fees, revenue and holders revenue, from
        three ``/overview/fees`` calls for the whole universe. A protocol missing from the
        revenue or holders revenue overview does not track that series (None)."""
        by_type = {
            data_type: {row.slug: (row.total24h, row.total48hto24h) for row in self.overview_rows(data_type)}
            for data_type in DATA_TYPES
        }
        untracked = (None, None)
        return {
            slug: LatestTotals(
                fees=fees,
                revenue=by_type["dailyRevenue"].get(slug, untracked),
                holders_revenue=by_type["dailyHoldersRevenue"].get(slug, untracked),
            )
            for slug, fees in by_type["dailyFees"].items()
        }

    def daily_series(self, slug: str, data_type: str, since: dt.date | None = None) -> dict[dt.date, Decimal]:
        payload = self.http.get_json(f"/summary/fees/{quote(slug, safe='')}", params={"dataType": data_type})
        return parse_daily_series(slug, data_type, payload, since=since)

    def revenue_history(self, slug: str, since: dt.date | None = None) -> list[RevenuePoint]:
        """Fees, revenue and holders revenue merged per UTC day (from ``since`` on, if given:
        DefiLlama sends the whole history either way). An unknown slug (4xx on
        dailyFees) is a ProviderFatalError; a 400/404 on dailyRevenue or dailyHoldersRevenue
        means that series is not tracked for the protocol and it stays None."""
        try:
            fees = self.daily_series(slug, "dailyFees", since)
        except ProviderFatalError as exc:
            if exc.status in NOT_TRACKED_STATUSES:
                raise ProviderFatalError(
                    PROVIDER, exc.status, f"unknown slug {slug!r}: {exc.message}", path=exc.path
                ) from exc
            raise
        series: dict[str, dict[dt.date, Decimal] | None] = {}
        for data_type in ("dailyRevenue", "dailyHoldersRevenue"):
            try:
                series[data_type] = self.daily_series(slug, data_type, since)
            except ProviderFatalError as exc:
                if exc.status not in NOT_TRACKED_STATUSES:
                    raise
                logger.info("defillama %s: %s not tracked (%s)", slug, data_type, exc.message)
                series[data_type] = None
        return merge_revenue(
            slug, fees=fees, revenue=series["dailyRevenue"], holders_revenue=series["dailyHoldersRevenue"]
        )

    def protocols(self) -> list[ProtocolInfo]:
        return parse_protocols(self.http.get_json("/protocols"))
