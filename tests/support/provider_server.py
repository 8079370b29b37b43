"""A real HTTP server on 127.0.0.1 that answers like CoinGecko and DefiLlama, from recorded
responses (the bundled sample data set, in the providers' own formats), with faults that a
test can inject. Used by the worker end-to-end tests and by the benchmarks.

CoinGecko is served under ``/cg`` and DefiLlama under ``/llama``:
``COINGECKO_BASE_URL=http://127.0.0.1:PORT/cg``, ``DEFILLAMA_BASE_URL=http://127.0.0.1:PORT/llama``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import defaultdict
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


class ProviderServer:
    """``with ProviderServer() as server:`` — serves on ``server.url`` until the block ends.

    ``server.inject(prefix, *faults)`` queues faults for the next requests whose path starts
    with ``prefix``: an int status (``500``, ``429``), ``("429", retry_after)``, ``"html"``,
    ``"reset"``, ``"truncate"``, ``("stall", threading.Event or seconds)``, ``("body", bytes)``.
    """

    def __init__(self, data: RecordedData | None = None) -> None:
        self.data = data or RecordedData()
        self.requests: list[str] = []
        self.headers: list[dict] = []
        self._faults: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()
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
                with server._lock:
                    server.requests.append(self.path)
                    server.headers.append(dict(self.headers))
                path = urlsplit(self.path).path
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
            ("/cg/coins/", self._market_chart),
            ("/llama/summary/fees/", self._summary),
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
        per_page = int(query.get("per_page", 100))
        page = int(query.get("page", 1))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return 200, json.dumps(chunk).encode(), "application/json"

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
