"""A real HTTP server on 127.0.0.1 that answers like CoinGecko and DefiLlama, from recorded
responses (the bundled sample data set, in the providers' own formats), with faults that a
test can inject. Used by the worker end-to-end tests and by the benchmarks.

CoinGecko is served under ``/cg`` and DefiLlama under ``/llama``:
``COINGECKO_BASE_URL=http://127.0.0.1:PORT/cg``, ``DEFILLAMA_BASE_URL=http://127.0.0.1:PORT/llama``.
Optionally it enforces a per-minute limit per provider as the real ones do (``rate_limits``),
and ``/_stats`` counts the requests it served and refused per endpoint.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.provider_data import RecordedData, overview_body


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
