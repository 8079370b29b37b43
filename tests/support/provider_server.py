"""A real HTTP server on 127.0.0.1 that answers like CoinGecko and DefiLlama, from recorded
responses (the bundled sample data set, in the providers' own formats), with faults that a
test can inject. Used by the worker end-to-end tests and by the benchmarks.

CoinGecko is served under ``/cg`` and DefiLlama under ``/llama``:
``COINGECKO_BASE_URL=http://127.0.0.1:PORT/cg``, ``DEFILLAMA_BASE_URL=http://127.0.0.1:PORT/llama``.
Optionally it enforces a per-minute limit per provider as the real ones do (``rate_limits``),
and ``/_stats`` counts the requests it served and refused per endpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


class RollingLimit:
    """At most ``limit`` requests in any ``window`` seconds: a log of the times of the requests
    let through (a sliding log: no window boundary to burst across). Refused requests are not
    logged, so a client that retries too early is refused without being locked out longer."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = float(window)
        self.clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when a request may go ahead (it is logged); else the seconds until one may."""
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return None
            return self._times[0] + self.window - now


# Endpoints counted by /_stats, by path prefix (the first that matches).
ENDPOINTS = (
    ("/cg/coins/markets", "markets"),
    ("/cg/coins/", "market_chart"),
    ("/cg/", "coingecko_other"),
    ("/llama/summary/fees/", "summary_fees"),
    ("/llama/overview/fees", "overview_fees"),
    ("/llama/", "defillama_other"),
)


def endpoint_of(path: str) -> str:
    return next((name for prefix, name in ENDPOINTS if path.startswith(prefix)), "other")


class ProviderServer:
    """``with ProviderServer() as server:`` — serves on ``server.url`` until the block ends.

    ``server.inject(prefix, *faults)`` queues faults for the next requests whose path starts
    with ``prefix``: an int status (``500``, ``429``), ``("429", retry_after)``, ``"html"``,
    ``"reset"``, ``"truncate"``, ``("stall", threading.Event or seconds)``, ``("body", bytes)``.

    ``rate_limits={"/cg": 30, "/llama": 500}`` refuses requests under a path prefix beyond that
    many per rolling ``window`` seconds, as a provider does: 429 with a ``retry-after`` (whole
    seconds until a request would pass), CoinGecko's JSON body under ``/cg``, plain text
    elsewhere (DefiLlama's errors are text). ``set_rate_limit`` changes one while serving.
    ``stats()`` (and ``GET /_stats``, itself neither limited nor counted) gives the requests
    served and refused per endpoint.
    """

    def __init__(
        self,
        data: RecordedData | None = None,
        *,
        rate_limits: dict[str, int] | None = None,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data = data or RecordedData()
        self.requests: list[str] = []
        self.headers: list[dict] = []
        self._faults: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()
        self.window = window
        self.clock = clock
        self._limits: dict[str, RollingLimit] = {}
        for prefix, per_window in (rate_limits or {}).items():
            self.set_rate_limit(prefix, per_window)
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: {"served": 0, "refused": 0})
        self.stalled = threading.Event()  # set while a stalled request is waiting
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set_rate_limit(self, prefix: str, per_window: int | None) -> None:
        """Limit requests under ``prefix`` (``None`` or 0: no limit), starting from an empty log."""
        with self._lock:
            if per_window:
                self._limits[prefix] = RollingLimit(per_window, self.window, self.clock)
            else:
                self._limits.pop(prefix, None)

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(counts) for name, counts in self._counts.items()}

    def _admit(self, path: str) -> float | None:
        """None when the request passes its prefix's limit; else the seconds until one would."""
        limit = next((limit for prefix, limit in self._limits.items() if path.startswith(prefix)), None)
        wait = limit.admit() if limit is not None else None
        with self._lock:
            self._counts[endpoint_of(path)]["served" if wait is None else "refused"] += 1
        return wait

    def inject(self, prefix: str, *faults) -> None:
        with self._lock:
            self._faults[prefix].extend(faults)

    def _next_fault(self, path: str):
        with self._lock:
            for prefix, queue in self._faults.items():
                if path.startswith(prefix) and queue:
                    return queue.pop(0)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/_stats":
                    self._send(200, json.dumps(server.stats()).encode(), "application/json")
                    return
                with server._lock:
                    server.requests.append(self.path)
                    server.headers.append(dict(self.headers))
                wait = server._admit(path)
                if wait is not None:
                    self._too_many(path, wait)
                    return
                fault = server._next_fault(path)
                if fault is not None and self._fault(fault):
                    return
                status, body, content_type = server.route(self.path)
                self._send(status, body, content_type)

            def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _too_many(self, path: str, wait: float) -> None:
                retry_after = {"Retry-After": str(max(1, math.ceil(wait)))}
                if path.startswith("/cg"):
                    body = b'{"status": {"error_code": 429, "error_message": "You\'ve exceeded the Rate Limit."}}'
                    self._send(429, body, "application/json", retry_after)
                else:
                    self._send(429, b"Too Many Requests", "text/plain", retry_after)

            def _fault(self, fault) -> bool:
                """Apply a fault; True when the response is done."""
                kind, arg = (fault, None) if not isinstance(fault, tuple) else fault
                if isinstance(kind, int):
                    self._send(kind, b'{"status": {"error_code": %d}}' % kind, "application/json")
                elif kind == "429":
                    body = b'{"status": {"error_code": 429, "error_message": "You\'ve exceeded the Rate Limit."}}'
                    self._send(429, body, "application/json", {"Retry-After": str(arg)})
                elif kind == "html":
                    self._send(200, b"<!DOCTYPE html><html><title>Just a moment...</title></html>", "text/html")
                elif kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif kind == "body":
                    self._send(200, arg, "application/json")
                elif kind == "truncate":
                    status, body, content_type = server.route(self.path)
                    self._send(status, body[: max(1, len(body) // 2)], content_type)
                elif kind == "stall":
                    server.stalled.set()
                    if isinstance(arg, threading.Event):
                        arg.wait(120)
                    else:
                        time.sleep(float(arg))
                    return False  # then answer normally
                return True

        return Handler

    def route(self, raw_path: str) -> tuple[int, bytes, str]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        routes: list[tuple[str, Callable]] = [
            ("/cg/coins/markets", self._markets),
            ("/cg/coins/list", lambda p, q: (200, json.dumps(self.data.coins_list()).encode(), "application/json")),
            ("/cg/coins/", self._market_chart),
            ("/llama/summary/fees/", self._summary),
            ("/llama/overview/fees", self._overview),
            ("/llama/protocols", lambda p, q: (200, self.data.protocols(), "application/json")),
        ]
        for prefix, handler in routes:
            if path.startswith(prefix):
                return handler(path, query)
        return 404, b"Not found", "text/plain"

    def _markets(self, path: str, query: dict) -> tuple[int, bytes, str]:
        rows = self.data.markets()
        if query.get("ids"):
            wanted = set(query["ids"].split(","))
            rows = [r for r in rows if r["id"] in wanted]
        else:  # discovery: every coin, largest market cap first, ranked by position
            rows = self._by_market_cap()
        per_page = int(query.get("per_page", 100))
        page = int(query.get("page", 1))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return 200, json.dumps(chunk).encode(), "application/json"

    def _by_market_cap(self) -> list[dict]:
        """The listing without ids, as CoinGecko orders it (``market_cap_desc``); a coin whose
        market cap is unknown (0 or null) comes last, with a null rank. Built once."""
        listing = self.__dict__.get("_listing")
        if listing is None:
            rows = sorted(self.data.markets(), key=lambda r: (-(r.get("market_cap") or 0), r["id"]))
            listing = self.__dict__["_listing"] = [
                {**row, "market_cap_rank": position if row.get("market_cap") else None}
                for position, row in enumerate(rows, start=1)
            ]
        return listing

    def _market_chart(self, path: str, query: dict) -> tuple[int, bytes, str]:
        coin_id = path.removeprefix("/cg/coins/").removesuffix("/market_chart")
        body = self.data.market_chart(coin_id)
        if body is None:
            return 404, b'{"error": "coin not found"}', "application/json"
        days = query.get("days")
        if days and days != "max":
            chart = json.loads(body)
            keep = int(days) + 1
            body = json.dumps({key: series[-keep:] for key, series in chart.items()}).encode()
        return 200, body, "application/json"

    def _overview(self, path: str, query: dict) -> tuple[int, bytes, str]:
        data_type = query.get("dataType", "dailyFees")
        if data_type not in ("dailyFees", "dailyRevenue", "dailyHoldersRevenue"):
            return 500, b"Internal Error", "text/plain"
        cache = self.__dict__.setdefault("_overviews", {})
        if data_type not in cache:
            cache[data_type] = overview_body(self.data, data_type)
        return 200, cache[data_type], "application/json"

    def _summary(self, path: str, query: dict) -> tuple[int, bytes, str]:
        slug = path.removeprefix("/llama/summary/fees/")
        body = self.data.summary_fees(slug, query.get("dataType", "dailyFees"))
        if body is None:
            return (
                400,
                f"Fees for {slug} not found, please visit /overview/fees to see available endpoints".encode(),
                ("text/plain"),
            )
        return 200, body, "application/json"


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
