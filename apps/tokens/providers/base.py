"""The normalised shape every provider returns; ingestion services only ever see these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple


class ProviderError(Exception):
    """Base class of provider failures."""


class ProviderDataError(ProviderError):
    """The response did not have the expected shape: nothing from it may be written."""


class ProviderFatalError(ProviderError):
    """The provider refused the request for good (bad key, unknown id, bad parameters): retrying
    cannot help. ``status`` is the HTTP status, ``error_code`` the provider's own code if any
    (CoinGecko's 10002, 10010, …) and ``message`` a short, key-free summary of the body."""

    def __init__(
        self, provider: str, status: int, message: str, *, error_code: int | None = None, path: str = ""
    ) -> None:
        self.provider = provider
        self.status = status
        self.message = message
        self.error_code = error_code
        self.path = path
        where = f" on {path}" if path else ""
        code = f" (error_code {error_code})" if error_code is not None else ""
        super().__init__(f"{provider}: HTTP {status}{where}{code}: {message}")


class ProviderRetryableError(ProviderError):
    """A transient failure (timeouts, resets, 408/429/5xx, HTML pages) outlasted the retries.
    ``retry_after`` (seconds) is the pause the provider asked for (``Retry-After``), or the
    wait the client gave up on to stay within its budget, so a caller can reschedule (e.g. a
    Celery countdown); None when there is no such hint."""

    def __init__(
        self,
        provider: str,
        reason: str,
        *,
        status: int | None = None,
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__(f"{provider}: {reason}" + (f" (after {attempts} attempts)" if attempts else ""))


class ProviderCircuitOpenError(ProviderError):
    """The provider's circuit is open (persistent failures seen by any worker): no request was
    sent. ``open_until`` is the unix time after which one trial request is allowed."""

    def __init__(self, provider: str, open_until: float | None = None) -> None:
        self.provider = provider
        self.open_until = open_until
        super().__init__(f"{provider}: circuit open, not calling the provider")


class ProviderQuotaExhaustedError(ProviderError):
    """The provider plan's calls for this calendar month (UTC) are spent: no request was sent,
    and none will be until ``resets_at``. Not retried: waiting minutes cannot help."""

    def __init__(self, provider: str, *, limit: int, used: int, month: str, resets_at: dt.datetime) -> None:
        self.provider = provider
        self.limit = limit
        self.used = used
        self.month = month
        self.resets_at = resets_at
        super().__init__(
            f"{provider}: monthly quota of {limit} calls spent ({used} used in {month}); "
            f"no calls until it resets at {resets_at:%Y-%m-%d %H:%M} UTC"
        )


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """Catalogue facts about a token (Accrual's own metadata plus the provider's)."""

    slug: str
    symbol: str
    name: str
    category: str
    chains: tuple[str, ...] = ()
    coingecko_id: str | None = None
    defillama_slug: str | None = None
    website: str = ""
    description: str = ""
    image_url: str = ""


class MarketQuote(NamedTuple):
    """One row of CoinGecko's /coins/markets: the token now. (A named tuple: 20,000 of
    them are made every refresh, and a frozen dataclass costs several times more to make.)"""

    coingecko_id: str
    symbol: str
    name: str
    last_updated: dt.datetime
    image_url: str = ""
    price: Decimal | None = None
    market_cap: Decimal | None = None
    fdv: Decimal | None = None
    volume: Decimal | None = None
    circulating_supply: Decimal | None = None
    total_supply: Decimal | None = None
    max_supply: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CoinListing:
    """One row of CoinGecko's /coins/list?include_platform=true: contract address per chain."""

    id: str
    symbol: str
    name: str
    platforms: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One day of CoinGecko's market_chart, keyed by UTC date."""

    coingecko_id: str
    date: dt.date
    observed_at: dt.datetime
    price: Decimal | None
    market_cap: Decimal | None
    volume: Decimal | None
    fdv: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RevenuePoint:
    """One UTC day of DefiLlama fees, revenue and holders revenue for a protocol."""

    defillama_slug: str
    date: dt.date
    fees: Decimal | None = None
    revenue: Decimal | None = None
    holders_revenue: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    token_slug: str
    mechanism: str
    share_of_revenue: Decimal | None
    basis: str = "revenue"
    since: dt.date | None = None
    until: dt.date | None = None
    description: str = ""
    source_url: str = ""


@dataclass(frozen=True, slots=True)
class EventInfo:
    token_slug: str
    date: dt.date
    kind: str
    usd_amount: Decimal | None = None
    token_amount: Decimal | None = None
    reference: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportInfo:
    """A revenue statement an editor entered with its source (e.g. an RTK network's ARR)."""

    token_slug: str
    period: str
    period_start: dt.date
    period_end: dt.date
    revenue: Decimal | None = None
    fees: Decimal | None = None
    holders_revenue: Decimal | None = None
    source_url: str = ""
    note: str = ""


@dataclass(slots=True)
class Catalogue:
    """Everything a sample replay (or a catalogue import) hands to ingestion."""

    chain_names: dict[str, str] = field(default_factory=dict)
    tokens: list[TokenInfo] = field(default_factory=list)
    policies: list[PolicyInfo] = field(default_factory=list)
    events: list[EventInfo] = field(default_factory=list)
    reports: list[ReportInfo] = field(default_factory=list)
