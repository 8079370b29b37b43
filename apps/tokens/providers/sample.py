"""The sample provider: replays the bundled data set (apps/tokens/sample_data/), stored in
the providers' own response formats, through the same parsers as the live clients."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import coingecko, defillama
from .base import (
    Catalogue,
    EventInfo,
    MarketQuote,
    PolicyInfo,
    PricePoint,
    ProviderDataError,
    ReportInfo,
    RevenuePoint,
    TokenInfo,
)
from .parsing import (
    iso_date,
    iso_datetime,
    optional_date,
    optional_decimal_string,
    optional_str,
    require_dict,
    require_list,
    require_str,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "sample_data"


class SampleProvider:
    name = "sample"
    source = "sample"

    def __init__(self, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
        self.data_dir = Path(data_dir)

    def _read(self, *parts: str) -> Any:
        path = self.data_dir.joinpath(*parts)
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ProviderDataError(f"{path.name}: truncated or invalid JSON ({exc.msg})") from exc

    def as_of(self) -> dt.datetime:
        manifest = require_dict(self._read("manifest.json"), "manifest")
        return iso_datetime(manifest.get("as_of"), "manifest.as_of")

    def catalogue(self) -> Catalogue:
        body = require_dict(self._read("catalogue.json"), "catalogue")
        chain_names = {
            require_str(c, "slug", "chains"): require_str(c, "name", "chains")
            for c in require_list(body.get("chains", []), "catalogue.chains")
        }
        catalogue = Catalogue(chain_names=chain_names)
        for i, raw in enumerate(require_list(body.get("tokens"), "catalogue.tokens")):
            where = f"catalogue.tokens[{i}]"
            row = require_dict(raw, where)
            catalogue.tokens.append(
                TokenInfo(
                    slug=require_str(row, "slug", where),
                    symbol=require_str(row, "symbol", where).upper(),
                    name=require_str(row, "name", where),
                    category=require_str(row, "category", where),
                    chains=tuple(require_list(row.get("chains", []), f"{where}.chains")),
                    coingecko_id=optional_str(row, "coingecko_id", where) or None,
                    defillama_slug=optional_str(row, "defillama_slug", where) or None,
                    website=optional_str(row, "website", where),
                    description=optional_str(row, "description", where),
                )
            )
        for i, raw in enumerate(require_list(body.get("policies", []), "catalogue.policies")):
            where = f"catalogue.policies[{i}]"
            row = require_dict(raw, where)
            catalogue.policies.append(
                PolicyInfo(
                    token_slug=require_str(row, "token", where),
                    mechanism=require_str(row, "mechanism", where),
                    share_of_revenue=optional_decimal_string(row, "share_of_revenue", where),
                    basis=optional_str(row, "basis", where) or "revenue",
                    since=optional_date(row, "since", where),
                    until=optional_date(row, "until", where),
                    description=optional_str(row, "description", where),
                    source_url=optional_str(row, "source_url", where),
                )
            )
        for i, raw in enumerate(require_list(body.get("events", []), "catalogue.events")):
            where = f"catalogue.events[{i}]"
            row = require_dict(raw, where)
            catalogue.events.append(
                EventInfo(
                    token_slug=require_str(row, "token", where),
                    date=iso_date(row.get("date"), f"{where}.date"),
                    kind=require_str(row, "kind", where),
                    usd_amount=optional_decimal_string(row, "usd_amount", where),
                    token_amount=optional_decimal_string(row, "token_amount", where),
                    reference=optional_str(row, "reference", where),
                    note=optional_str(row, "note", where),
                )
            )
        for i, raw in enumerate(require_list(body.get("reports", []), "catalogue.reports")):
            where = f"catalogue.reports[{i}]"
            row = require_dict(raw, where)
            catalogue.reports.append(
                ReportInfo(
                    token_slug=require_str(row, "token", where),
                    period=require_str(row, "period", where),
                    period_start=iso_date(row.get("period_start"), f"{where}.period_start"),
                    period_end=iso_date(row.get("period_end"), f"{where}.period_end"),
                    revenue=optional_decimal_string(row, "revenue", where),
                    fees=optional_decimal_string(row, "fees", where),
                    holders_revenue=optional_decimal_string(row, "holders_revenue", where),
                    source_url=optional_str(row, "source_url", where),
                    note=optional_str(row, "note", where),
                )
            )
        return catalogue

    def markets(self, ids: Sequence[str] | None = None) -> list[MarketQuote]:
        quotes = coingecko.parse_markets(self._read("coingecko", "coins_markets.json"))
        if ids is None:
            return quotes
        wanted = set(ids)
        return [q for q in quotes if q.coingecko_id in wanted]

    def price_history(self, coingecko_id: str, days: int | None = None) -> list[PricePoint]:
        """The recorded chart; ``days`` keeps the last N days, as CoinGecko's ``days`` does."""
        path = self.data_dir / "coingecko" / "market_chart" / f"{coingecko_id}.json"
        if not path.exists():
            return []
        points = coingecko.parse_market_chart(coingecko_id, self._read("coingecko", "market_chart", path.name))
        if days is not None and points:
            first = points[-1].date - dt.timedelta(days=days)
            points = [p for p in points if p.date >= first]
        return points

    def revenue_history(self, slug: str, since: dt.date | None = None) -> list[RevenuePoint]:
        folder = self.data_dir / "defillama" / "summary_fees" / slug
        series = {}
        for data_type in defillama.DATA_TYPES:
            path = folder / f"{data_type}.json"
            if path.exists():
                payload = self._read("defillama", "summary_fees", slug, path.name)
                series[data_type] = defillama.parse_daily_series(slug, data_type, payload, since=since)
        return defillama.merge_revenue(
            slug,
            fees=series.get("dailyFees"),
            revenue=series.get("dailyRevenue"),
            holders_revenue=series.get("dailyHoldersRevenue"),
        )

    def protocols(self) -> list[defillama.ProtocolInfo]:
        return defillama.parse_protocols(self._read("defillama", "protocols.json"))
