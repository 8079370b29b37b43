"""What the fake provider server (``provider_server``) answers from, in CoinGecko's and
DefiLlama's own formats: ``RecordedData`` replays a data set folder (the bundled sample by
default); ``SyntheticData`` makes a large deterministic universe for the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "apps" / "tokens" / "sample_data"


class RecordedData:
    """Responses read from a data set folder laid out like apps/tokens/sample_data."""

    def __init__(self, root: Path = SAMPLE_DIR) -> None:
        self.root = Path(root)
        self._markets = json.loads((self.root / "coingecko" / "coins_markets.json").read_text())

    def markets(self) -> list[dict]:
        return self._markets

    def market_chart(self, coin_id: str) -> bytes | None:
        path = self.root / "coingecko" / "market_chart" / f"{coin_id}.json"
        return path.read_bytes() if path.exists() else None

    def summary_fees(self, slug: str, data_type: str) -> bytes | None:
        path = self.root / "defillama" / "summary_fees" / slug / f"{data_type}.json"
        return path.read_bytes() if path.exists() else None

    def protocols(self) -> bytes:
        return (self.root / "defillama" / "protocols.json").read_bytes()

    def slugs(self) -> list[str]:
        return sorted(p.name for p in (self.root / "defillama" / "summary_fees").iterdir() if p.is_dir())

    def coins_list(self) -> list[dict]:
        """``/coins/list?include_platform=true``: the recorded coins, on the chains the
        catalogue gives them (no contract addresses are recorded)."""
        path = self.root / "catalogue.json"
        catalogue = json.loads(path.read_text()) if path.exists() else {"tokens": []}
        chains = {t["coingecko_id"]: t.get("chains", []) for t in catalogue["tokens"] if t.get("coingecko_id")}
        return [
            {
                "id": row["id"],
                "symbol": row["symbol"],
                "name": row["name"],
                "platforms": dict.fromkeys(chains.get(row["id"], [])),
            }
            for row in self.markets()
        ]


def overview_body(data: RecordedData | SyntheticData, data_type: str) -> bytes:
    """``/overview/fees?dataType=…`` with the excluded charts, built from the data's own
    ``/summary/fees`` bodies: each protocol that has the series, with its last two days as
    ``total24h`` and ``total48hto24h`` (PROVIDERS.md)."""
    keys = ("defillamaId", "name", "displayName", "slug", "category", "chains", "logo", "methodology")
    protocols = []
    for slug in data.slugs():
        body = data.summary_fees(slug, data_type)
        if body is None:
            continue
        summary = json.loads(body)
        values = [value for _, value in summary.get("totalDataChart", [])]
        protocols.append(
            {
                **{key: summary.get(key) for key in keys},
                "defillamaId": str(summary.get("id")),
                "parentProtocol": summary.get("parentProtocol"),
                "linkedProtocols": summary.get("linkedProtocols"),
                "protocolType": summary.get("protocolType", "protocol"),
                "total24h": values[-1] if values else None,
                "total48hto24h": values[-2] if len(values) > 1 else None,
                "total7d": sum(values[-7:]) if values else None,
                "total30d": sum(values[-30:]) if values else None,
            }
        )
    total = sum(p["total24h"] or 0 for p in protocols)
    return json.dumps(
        {
            "totalDataChart": [],
            "totalDataChartBreakdown": [],
            "total24h": total,
            "allChains": [],
            "protocols": protocols,
        }
    ).encode()


class SyntheticData:
    """A large, deterministic universe in the providers' own shapes, for benchmarks.

    ``tokens`` CoinGecko ids ``synth-cg-00001``…; the first ``protocols`` of them are also
    DefiLlama slugs ``synth-llama-00001``… (token *i* is protocol *i*). Each protocol has
    ``days`` daily points of fees, revenue and holders revenue ending ``end`` (default: the
    day before ``today``, itself the UTC date by default); quotes are dated ``today``.

    Same interface as RecordedData. Every value is a pure function of (index, day), exposed
    as ``price_point``/``revenue_point``, so a benchmark can store "already fetched" history
    that the served responses agree with. Bodies are built on first use and kept as bytes;
    ``warm()`` builds them all up front.
    """

    CG_PREFIX = "synth-cg-"
    LLAMA_PREFIX = "synth-llama-"
    CHAINS = ("Ethereum", "Solana", "Arbitrum", "Base", "BSC")
    CATEGORIES = ("Dexs", "Derivatives", "Lending", "Launchpad", "Chain", "Liquid Staking")
    DATA_TYPES = ("dailyFees", "dailyRevenue", "dailyHoldersRevenue")

    def __init__(
        self,
        tokens: int = 20_000,
        protocols: int = 5_000,
        *,
        days: int = 125,
        today: dt.date | None = None,
        end: dt.date | None = None,
    ) -> None:
        if not 0 <= protocols <= tokens:
            raise ValueError("protocols must be between 0 and tokens")
        self.tokens = tokens
        self.protocols_count = protocols
        self.days = days
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.end = end or self.today - dt.timedelta(days=1)
        self.dates = [self.end - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
        self._markets: list[dict] | None = None
        self._fees: dict[tuple[str, str], bytes] = {}
        self._charts: dict[str, bytes] = {}

    # Names.

    @classmethod
    def coingecko_id(cls, index: int) -> str:
        return f"{cls.CG_PREFIX}{index:05d}"

    @classmethod
    def llama_slug(cls, index: int) -> str:
        return f"{cls.LLAMA_PREFIX}{index:05d}"

    @staticmethod
    def _index(key: str, prefix: str) -> int | None:
        if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
            return None
        return int(key[len(prefix) :])

    # Values: pure functions of (index, day).

    @staticmethod
    def _unit(index: int, salt: int) -> float:
        """A deterministic number in [0, 1)."""
        h = (index * 2_654_435_761 + salt * 40_503 + 97) & 0xFFFFFFFF
        h = ((h ^ (h >> 15)) * 2_246_822_519) & 0xFFFFFFFF
        h ^= h >> 13
        return h / 2**32

    @staticmethod
    def _json_number(value: float) -> float | int:
        """Whole numbers come as JSON integers, as the providers send them."""
        return int(value) if value == int(value) else value

    def supply(self, index: int) -> float:
        return float(f"{10 ** (6 + 4 * self._unit(index, 2)):.0f}")

    def price_point(self, index: int, day: dt.date) -> tuple[float, float, float]:
        """(price, market cap, volume) of token ``index`` on ``day``."""
        return self.price_series(index, [day])[0]

    def price_series(self, index: int, days: list[dt.date]) -> list[tuple[float, float, float]]:
        unit = self._unit
        base = 10 ** (-4 + 7 * unit(index, 1))
        supply = self.supply(index)
        points = []
        for day in days:
            ordinal = day.toordinal()
            price = float(f"{base * (0.9 + 0.2 * unit(index, ordinal)):.10g}")
            cap = round(price * supply, 2)
            points.append((price, cap, round(cap * (0.005 + 0.1 * unit(index, ordinal + 7)), 2)))
        return points

    def revenue_point(self, index: int, day: dt.date) -> tuple[float, float, float]:
        """(fees, revenue, holders revenue) of protocol ``index`` on ``day``, in cents."""
        return self.revenue_series(index, [day])[0]

    def revenue_series(self, index: int, days: list[dt.date]) -> list[tuple[float, float, float]]:
        unit = self._unit
        base = 10 ** (2 + 4 * unit(index, 3))
        take = 0.05 + 0.95 * unit(index, 4)
        to_holders = unit(index, 5)
        points = []
        for day in days:
            fees = round(base * (0.75 + 0.5 * unit(index, day.toordinal() + 11)), 2)
            revenue = round(fees * take, 2)
            points.append((fees, revenue, round(revenue * to_holders, 2)))
        return points

    # RecordedData's interface.

    def markets(self) -> list[dict]:
        if self._markets is None:
            self._markets = [self._market_row(i) for i in range(1, self.tokens + 1)]
        return self._markets

    def _market_row(self, index: int) -> dict:
        price, cap, volume = self.price_point(index, self.today)
        yesterday = self.price_point(index, self.today - dt.timedelta(days=1))[0]
        supply = self.supply(index)
        change = price - yesterday
        n = self._json_number
        return {
            "id": self.coingecko_id(index),
            "symbol": f"s{index:05d}",
            "name": f"Synthetic {index:05d}",
            "image": f"https://coin-images.coingecko.com/coins/images/{index}/large/synth.png",
            "current_price": n(price),
            "market_cap": n(cap),
            "market_cap_rank": index,
            "fully_diluted_valuation": n(round(price * supply * 1.25, 2)),
            "total_volume": n(volume),
            "high_24h": n(float(f"{max(price, yesterday) * 1.01:.10g}")),
            "low_24h": n(float(f"{min(price, yesterday) * 0.99:.10g}")),
            "price_change_24h": float(f"{change:.10g}"),
            "price_change_percentage_24h": round(change / yesterday * 100, 5),
            "market_cap_change_24h": round(change * supply, 2),
            "market_cap_change_percentage_24h": round(change / yesterday * 100, 5),
            "circulating_supply": n(supply),
            "total_supply": n(supply * 1.25),
            "max_supply": None if index % 3 else n(supply * 1.5),
            "ath": n(float(f"{price * 3:.10g}")),
            "ath_change_percentage": -66.66667,
            "ath_date": "2024-12-05T00:00:00.000Z",
            "atl": n(float(f"{price / 4:.10g}")),
            "atl_change_percentage": 300.0,
            "atl_date": "2023-01-01T00:00:00.000Z",
            "roi": None,
            "last_updated": f"{self.today.isoformat()}T00:05:00.000Z",
            "price_change_percentage_24h_in_currency": round(change / yesterday * 100, 5),
            "price_change_percentage_7d_in_currency": round(self._unit(index, 8) * 20 - 10, 5),
            "price_change_percentage_30d_in_currency": round(self._unit(index, 9) * 40 - 20, 5),
        }

    def market_chart(self, coin_id: str) -> bytes | None:
        index = self._index(coin_id, self.CG_PREFIX)
        if index is None or not 1 <= index <= self.tokens:
            return None
        body = self._charts.get(coin_id)
        if body is None:
            points = [(self._midnight_ms(day), *self.price_point(index, day)) for day in [*self.dates, self.today]]
            now_ms = self._midnight_ms(self.today) + 5 * 60_000  # the last point is "now", not midnight
            points[-1] = (now_ms, *points[-1][1:])
            body = json.dumps(
                {
                    "prices": [[ms, p] for ms, p, _, _ in points],
                    "market_caps": [[ms, c] for ms, _, c, _ in points],
                    "total_volumes": [[ms, v] for ms, _, _, v in points],
                }
            ).encode()
            self._charts[coin_id] = body
        return body

    def summary_fees(self, slug: str, data_type: str) -> bytes | None:
        index = self._index(slug, self.LLAMA_PREFIX)
        if index is None or not 1 <= index <= self.protocols_count or data_type not in self.DATA_TYPES:
            return None
        body = self._fees.get((slug, data_type))
        if body is None:
            self._fees.update(self._summary_bodies(index))
            body = self._fees[(slug, data_type)]
        return body

    def _summary_bodies(self, index: int) -> dict[tuple[str, str], bytes]:
        """The three /summary/fees bodies of protocol ``index`` (one per dataType)."""
        n = self._json_number
        slug = self.llama_slug(index)
        stamps = [self._midnight_ms(day) // 1000 for day in self.dates]
        points = self.revenue_series(index, self.dates)
        chain = self.CHAINS[index % len(self.CHAINS)]
        name = f"Synthetic {index:05d}"
        info = {
            "id": str(100_000 + index),
            "name": name,
            "displayName": name,
            "url": f"https://synthetic-{index:05d}.invalid",
            "description": "A synthetic protocol for benchmarks.",
            "logo": f"https://icons.llama.fi/{slug}.png",
            "gecko_id": self.coingecko_id(index),
            "cmcId": None,
            "symbol": f"S{index:05d}",
            "chains": [chain],
            "twitter": None,
            "treasury": None,
            "governanceID": None,
            "github": None,
            "slug": slug,
            "module": slug,
            "category": self.CATEGORIES[index % len(self.CATEGORIES)],
            "methodology": {"Fees": "Synthetic fees", "Revenue": "Synthetic revenue"},
            "parentProtocol": None,
            "linkedProtocols": None,
            "protocolType": "protocol",
        }
        bodies = {}
        for column, data_type in enumerate(self.DATA_TYPES):
            values = [n(point[column]) for point in points]
            body = {
                **info,
                "total24h": values[-1] if values else None,
                "total48hto24h": values[-2] if len(values) > 1 else None,
                "total7d": n(round(sum(values[-7:]), 2)),
                "total30d": n(round(sum(values[-30:]), 2)),
                "totalAllTime": n(round(sum(values), 2)),
                "change_1d": round((values[-1] / values[-2] - 1) * 100, 2) if len(values) > 1 and values[-2] else None,
                "totalDataChart": [[ts, v] for ts, v in zip(stamps, values, strict=True)],
                "totalDataChartBreakdown": [
                    [ts, {chain.lower(): {name: v}}] for ts, v in zip(stamps, values, strict=True)
                ],
            }
            bodies[(slug, data_type)] = json.dumps(body).encode()
        return bodies

    def protocols(self) -> bytes:
        return json.dumps(
            [
                {
                    "id": str(100_000 + i),
                    "name": f"Synthetic {i:05d}",
                    "symbol": f"S{i:05d}",
                    "slug": self.llama_slug(i),
                    "gecko_id": self.coingecko_id(i),
                    "category": self.CATEGORIES[i % len(self.CATEGORIES)],
                    "chains": [self.CHAINS[i % len(self.CHAINS)]],
                    "tvl": round(self.revenue_point(i, self.end)[0] * 1000, 2),
                    "mcap": self.price_point(i, self.today)[1],
                }
                for i in range(1, self.protocols_count + 1)
            ]
        ).encode()

    def slugs(self) -> list[str]:
        return [self.llama_slug(i) for i in range(1, self.protocols_count + 1)]

    # CoinGecko's platform ids for CHAINS, as /coins/list names them.
    PLATFORMS = {
        "Ethereum": "ethereum",
        "Solana": "solana",
        "Arbitrum": "arbitrum-one",
        "Base": "base",
        "BSC": "binance-smart-chain",
    }

    def coins_list(self) -> list[dict]:
        """``/coins/list?include_platform=true``: every token, with a contract on one chain
        (token *i* on ``CHAINS[i % 5]``, as protocol *i* is)."""
        return [
            {
                "id": self.coingecko_id(i),
                "symbol": f"s{i:05d}",
                "name": f"Synthetic {i:05d}",
                "platforms": {self.PLATFORMS[self.CHAINS[i % len(self.CHAINS)]]: f"0x{i:040x}"},
            }
            for i in range(1, self.tokens + 1)
        ]

    def warm(self) -> None:
        """Build every market row and every /summary/fees body now."""
        self.markets()
        for i in range(1, self.protocols_count + 1):
            self.summary_fees(self.llama_slug(i), "dailyFees")

    @staticmethod
    def _midnight_ms(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC).timestamp() * 1000)
