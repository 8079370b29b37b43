"""The refresh benchmark's setup (``bench_refresh``): the stand-in provider server in its own
process, the benchmark database, and the universe stored in it before anything is measured.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.provider_data import SyntheticData
from tests.support.provider_server import ProviderServer

ROOT = Path(__file__).resolve().parents[1]
STORED_DAYS = 120  # history already in the database (revenue: for the protocols behind)
SERVED_DAYS = 125  # history the server returns, to yesterday
PER_PAGE = 250  # CoinGecko's page size (and the client's ids per request)
REVISION_DAYS = 3  # the refresh re-reads this many stored days (apps.tokens.history)
WINDOW = 60.0  # the providers' limits are per minute

_started = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


# --- The provider server, in its own process ------------------------------------------


class BenchProviderServer(ProviderServer):
    """ProviderServer with /coins/markets pages prebuilt as bytes and Nagle off."""

    def __init__(self, data: SyntheticData) -> None:
        self._pages: dict[tuple[str, int, int], bytes] = {}
        self._order: dict[str, int] = {}
        super().__init__(data, window=WINDOW)

    def _handler(self):
        base = super()._handler()

        class Handler(base):
            disable_nagle_algorithm = True  # headers and body go out without waiting for an ACK

        return Handler

    def warm(self, per_page: int) -> None:
        """Every body now: market pages, /summary/fees, and the three /overview/fees."""
        self.data.warm()
        ids = sorted(row["id"] for row in self.data.markets())
        for start in range(0, len(ids), per_page):
            self._markets_page(",".join(ids[start : start + per_page]), per_page, 1)
        for data_type in SyntheticData.DATA_TYPES:
            self.route(f"/llama/overview/fees?dataType={data_type}")

    def _markets_page(self, ids: str, per_page: int, page: int) -> bytes:
        key = (ids, per_page, page)
        body = self._pages.get(key)
        if body is None:
            rows = self.data.markets()
            if not self._order:
                self._order = {row["id"]: n for n, row in enumerate(rows)}
            if ids:
                rows = [rows[n] for n in sorted(self._order[i] for i in set(ids.split(",")) if i in self._order)]
            body = json.dumps(rows[(page - 1) * per_page : page * per_page]).encode()
            self._pages[key] = body
        return body

    def _markets(self, path: str, query: dict) -> tuple[int, bytes, str]:
        body = self._markets_page(query.get("ids", ""), int(query.get("per_page", 100)), int(query.get("page", 1)))
        return 200, body, "application/json"


def serve(conn, tokens: int, protocols: int, today: str) -> None:
    """The server process: send the URL at once, ``ready`` when every body is built, then
    take ``("limits", {prefix: per_minute})`` (each a fresh window) until the parent says
    stop (or goes away)."""
    data = SyntheticData(tokens, protocols, days=SERVED_DAYS, today=dt.date.fromisoformat(today))
    with BenchProviderServer(data) as server:
        conn.send(server.url)
        server.warm(PER_PAGE)
        gc.freeze()  # the prebuilt responses are permanent: keep them out of the collector's scans
        conn.send("ready")
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            while (message := conn.recv()) != "stop":
                for prefix, per_minute in message[1].items():
                    server.set_rate_limit(prefix, per_minute)
                conn.send("ok")


def server_limits(conn, limits: dict[str, int]) -> None:
    conn.send(("limits", limits))
    if not conn.poll(10) or conn.recv() != "ok":
        raise RuntimeError("the provider server did not take its new limits")


# --- Database and universe -------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def run_lock(database_url: str, redis_url: str):
    """One benchmark run at a time per database and per Redis database: a second run would
    empty the first one's tables and take its worker's messages. Session advisory locks,
    held (on the returned connection) until the run ends or dies."""
    import psycopg

    parts = urlsplit(database_url)
    conn = psycopg.connect(with_database(database_url, "postgres"), autocommit=True)
    for key in (f"database {parts.hostname}:{parts.port or 5432}{parts.path}", f"redis {redis_url}"):
        (locked,) = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", [f"accrual-bench-refresh {key}"]
        ).fetchone()
        if not locked:
            conn.close()
            raise SystemExit(f"bench_refresh: another run is using {key}; wait for it, or pass other URLs")
    return conn


def ensure_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            say(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600
    )


class Universe:
    """What setup stored, and the dates the measured refreshes are about.

    Revenue is a day's run: most protocols are stored to the day before yesterday, so the
    overview gives them yesterday (three calls for all); ``behind`` of them, spread evenly,
    are stored to six days ago (missed days), so each is fetched in full (three calls a
    protocol)."""

    def __init__(self, tokens: int, protocols: int, behind: int, today: dt.date) -> None:
        self.data = SyntheticData(tokens, protocols, days=SERVED_DAYS, today=today)
        self.tokens = tokens
        self.protocols = protocols
        self.behind = {i for i in range(1, protocols + 1) if i * behind // protocols > (i - 1) * behind // protocols}
        self.today = today
        self.served = self.data.dates  # revenue days the server returns, to yesterday
        self.stored_revenue = self.served[:-1]  # stored to the day before yesterday…
        self.behind_until = self.served[STORED_DAYS - 1]  # … or to this day, for the protocols behind
        self.stored_prices = [today - dt.timedelta(days=n) for n in range(STORED_DAYS, 0, -1)]
        # The revenue refresh re-reads the newest stored days and recomputes snapshots from there.
        self.revenue_since = self.behind_until - dt.timedelta(days=REVISION_DAYS)
        self.token_ids: dict[int, int] = {}  # synthetic index -> Token pk

    @property
    def revenue_token_ids(self) -> list[int]:
        return [self.token_ids[i] for i in range(1, self.protocols + 1)]


def _copy(cursor, statement: str, lines) -> int:
    count = 0
    with cursor.copy(statement) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            count += 1
            if len(buffer) >= 20_000:
                copy.write("".join(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
    return count


def _utc(day: dt.date, hour: int = 0, minute: int = 0) -> str:
    return f"{day.isoformat()} {hour:02d}:{minute:02d}:00+00"


def setup_universe(u: Universe) -> None:
    from django.db import connection

    from apps.tokens import revenue_reports, snapshots
    from apps.tokens.models import Category, Token

    data = u.data
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tokens_token, tokens_syncrun, tokens_defillamaprotocol, tokens_chain RESTART IDENTITY CASCADE"
        )
    categories = [c for c in Category.values if c != Category.OTHER]
    started = time.monotonic()
    backfilled_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    behind_at = dt.datetime.combine(u.behind_until, dt.time(1, 15), dt.UTC)
    Token.objects.bulk_create(
        [
            Token(
                slug=f"synth-{i:05d}",
                symbol=f"S{i:05d}",
                name=f"Synthetic {i:05d}",
                category=categories[i % len(categories)],
                coingecko_id=data.coingecko_id(i),
                defillama_slug=data.llama_slug(i) if i <= u.protocols else None,
                image_url=f"https://coin-images.coingecko.com/coins/images/{i}/large/synth.png",
                circulating_supply=data.supply(i),
                total_supply=data.supply(i) * 1.25,
                max_supply=None if i % 3 else data.supply(i) * 1.5,
                # Their stored history counts as backfilled: the refreshes fetch only what is new.
                price_history_at=backfilled_at,
                # (a protocol behind was last fetched on its last stored day)
                revenue_history_at=(behind_at if i in u.behind else backfilled_at) if i <= u.protocols else None,
            )
            for i in range(1, u.tokens + 1)
        ],
        batch_size=2000,
    )
    by_cg = dict(Token.objects.filter(slug__startswith="synth-").values_list("coingecko_id", "pk"))
    u.token_ids = {i: by_cg[data.coingecko_id(i)] for i in range(1, u.tokens + 1)}
    say(f"setup: {u.tokens} tokens ({time.monotonic() - started:.1f}s)")

    # Day by day, as a running system wrote them (each day's refresh appends that day for
    # every token), so a day's rows sit together on disk and a token's history does not.
    def price_lines():
        for day in u.stored_prices:
            observed, fetched = _utc(day), _utc(day + dt.timedelta(days=1), 0, 20)
            tail = f"\t{observed}\tcoingecko\t{fetched}\n"
            for i in range(1, u.tokens + 1):
                price, cap, volume = data.price_point(i, day)
                yield f"{u.token_ids[i]}\t{day}\t{price!r}\t{cap!r}\t\\N\t{volume!r}{tail}"

    def revenue_lines():
        for day in u.stored_revenue:
            fetched = _utc(day + dt.timedelta(days=1), 1, 15)
            for i in range(1, u.protocols + 1):
                if day > u.behind_until and i in u.behind:
                    continue
                fees, revenue, holders = data.revenue_point(i, day)
                yield f"{u.token_ids[i]}\t{day}\t{fees!r}\t{revenue!r}\t{holders!r}\tdefillama\t{fetched}\n"

    started = time.monotonic()
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor:
        prices = _copy(
            cursor,
            "COPY tokens_priceday (token_id, date, price_usd, market_cap_usd, fdv_usd, volume_usd, observed_at,"
            " source, fetched_at) FROM STDIN",
            price_lines(),
        )
        revenue = _copy(
            cursor,
            "COPY tokens_revenueday (token_id, date, fees_usd, revenue_usd, holders_revenue_usd, source, fetched_at)"
            " FROM STDIN",
            revenue_lines(),
        )
    say(f"setup: {prices:,} PriceDay and {revenue:,} RevenueDay rows by COPY ({time.monotonic() - started:.1f}s)")
    vacuum_analyze()

    started = time.monotonic()
    yesterday = u.today - dt.timedelta(days=1)
    written = snapshots.snapshots_recompute(since=yesterday)
    if u.protocols:
        # Protocols also get the days their revenue refresh re-reads, as a daily run finds them.
        written += snapshots.snapshots_recompute(token_ids=u.revenue_token_ids, since=u.revenue_since)
        revenue_reports.revenue_reports_build(token_ids=u.revenue_token_ids)
    say(f"setup: {written:,} snapshots and the revenue reports ({time.monotonic() - started:.1f}s)")

    # Every older day has its snapshot too, as in a system that has run for months: the
    # snapshot table and its (token, date) index are as large as PriceDay's, which is what a
    # day's snapshots are inserted into. Price side only (the figures are not read), day by day.
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tokens_metricsnapshot (token_id, date, price_usd, market_cap_usd, fdv_usd, volume_usd,"
            " price_source, price_as_of, revenue_source, computed_at)"
            " SELECT token_id, date, price_usd, market_cap_usd, fdv_usd, volume_usd, source, observed_at, '',"
            " fetched_at FROM tokens_priceday ORDER BY date, token_id ON CONFLICT (token_id, date) DO NOTHING",
        )
        older = cursor.rowcount
    say(f"setup: {older:,} snapshots of the older days ({time.monotonic() - started:.1f}s)")
    vacuum_analyze()


def checkpoint() -> None:
    """Flush dirty buffers now, so a measurement doesn't pay for the previous step's writes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def vacuum_analyze() -> None:
    from django.db import connection

    started = time.monotonic()
    raw = connection.connection
    autocommit = raw.autocommit
    raw.autocommit = True
    try:
        for table in (
            "tokens_token",
            "tokens_priceday",
            "tokens_revenueday",
            "tokens_metricsnapshot",
            "tokens_revenuereport",
        ):
            raw.execute(f"VACUUM ANALYZE {table}")
    finally:
        raw.autocommit = autocommit
    say(f"setup: VACUUM ANALYZE ({time.monotonic() - started:.1f}s)")


def log_to_file(path: Path) -> None:
    """This process logs as the worker does (INFO, to a file), not to the console."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
