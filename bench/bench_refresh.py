"""Refresh benchmark (issue 3): the daily incremental refresh of a large universe, through a
real Celery worker, against the cost floor of fetching the same data and writing the same
rows with nothing in between.

    python -m bench.bench_refresh                    # 20,000 tokens, 5,000 protocols
    python -m bench.bench_refresh --tokens 2000 --protocols 500   # a quick check
    python -m bench.bench_refresh --profile          # then cProfile both refreshes in-process

Steps: build the universe in a dedicated database (tokens, 120 days of prices and revenue,
recent snapshots, revenue reports: setup, not measured); serve CoinGecko /coins/markets and
DefiLlama /summary/fees from a local server process (SyntheticData, bodies built once);
start ``celery -A config worker --concurrency 1`` on that database, Redis and server; then
for markets and for revenue: the floor (plain httpx, json.loads, one COPY), and the refresh
(task sent to the broker, timed until its SyncRun's finished_at). Results are printed and
written to bench/results/refresh-<date>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import platform
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.provider_server import ProviderServer, SyntheticData  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
GOAL = 4.0  # the refresh must be within GOAL × the floor
STORED_DAYS = 120  # history already in the database
SERVED_DAYS = 125  # history the server returns: 5 new days of revenue
PER_PAGE = 250  # CoinGecko's page size (and the client's ids per request)
REVISION_DAYS = 3  # the refresh re-reads this many stored days (apps.tokens.refresh)
RESULTS_DIR = ROOT / "bench" / "results"
DATA_TYPES = SyntheticData.DATA_TYPES

_started = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


# --- The provider server, in its own process ------------------------------------------


class BenchProviderServer(ProviderServer):
    """ProviderServer with /coins/markets pages prebuilt as bytes, Nagle off, and a
    ``/_stats`` route counting requests per provider endpoint."""

    def __init__(self, data: SyntheticData) -> None:
        self._pages: dict[tuple[str, int, int], bytes] = {}
        self._order: dict[str, int] = {}
        super().__init__(data)

    def _handler(self):
        base = super()._handler()

        class Handler(base):
            disable_nagle_algorithm = True  # headers and body go out without waiting for an ACK

        return Handler

    def warm_markets(self, per_page: int) -> None:
        ids = sorted(row["id"] for row in self.data.markets())
        for start in range(0, len(ids), per_page):
            chunk = ",".join(ids[start : start + per_page])
            for page in (1, 2):  # the client asks for the page after a full one
                self._markets_page(chunk, per_page, page)

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

    def route(self, raw_path: str) -> tuple[int, bytes, str]:
        if urlsplit(raw_path).path == "/_stats":
            with self._lock:
                paths = list(self.requests)
            counts = {
                "markets": sum(p.startswith("/cg/coins/markets") for p in paths),
                "summary_fees": sum(p.startswith("/llama/summary/fees/") for p in paths),
                "overview_fees": sum(p.startswith("/llama/overview/fees") for p in paths),
                "total": sum(not p.startswith("/_stats") for p in paths),
            }
            return 200, json.dumps(counts).encode(), "application/json"
        return super().route(raw_path)


def serve(conn, tokens: int, protocols: int, today: str) -> None:
    """The server process: send the URL at once, ``ready`` when every body is built, then
    serve until the parent says stop (or goes away)."""
    data = SyntheticData(tokens, protocols, days=SERVED_DAYS, today=dt.date.fromisoformat(today))
    with BenchProviderServer(data) as server:
        conn.send(server.url)
        data.warm()
        server.warm_markets(PER_PAGE)
        gc.freeze()  # the prebuilt responses are permanent: keep them out of the collector's scans
        conn.send("ready")
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            conn.recv()


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
    """What setup stored, and the dates the measured refreshes are about."""

    def __init__(self, tokens: int, protocols: int, today: dt.date) -> None:
        self.data = SyntheticData(tokens, protocols, days=SERVED_DAYS, today=today)
        self.tokens = tokens
        self.protocols = protocols
        self.today = today
        self.served = self.data.dates  # revenue days the server returns
        self.stored_revenue = self.served[:STORED_DAYS]  # … of which these are stored
        self.new_revenue_days = self.served[STORED_DAYS:]
        self.stored_prices = [today - dt.timedelta(days=n) for n in range(STORED_DAYS, 0, -1)]
        # The revenue refresh re-reads the newest stored days and recomputes snapshots from there.
        self.revenue_since = self.stored_revenue[-1] - dt.timedelta(days=REVISION_DAYS)
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

    from apps.tokens import snapshots
    from apps.tokens.models import Category, Token

    data = u.data
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tokens_token, tokens_syncrun, tokens_defillamaprotocol, tokens_chain RESTART IDENTITY CASCADE"
        )
    categories = [c for c in Category.values if c != Category.OTHER]
    started = time.monotonic()
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
        snapshots.revenue_reports_build(token_ids=u.revenue_token_ids)
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


def reset_to_baseline(u: Universe) -> None:
    """Undo both refreshes (for the in-process profile): the same facts, snapshots and
    reports as after setup."""
    from django.db import connection, transaction

    from apps.tokens import snapshots

    first_new = u.new_revenue_days[0] if u.new_revenue_days else u.today
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM tokens_priceday WHERE date >= %s", [u.today])
        cursor.execute("DELETE FROM tokens_revenueday WHERE date >= %s", [first_new])
        cursor.execute("DELETE FROM tokens_revenuereport WHERE period_start >= %s", [first_new])
        cursor.execute(
            "UPDATE tokens_token SET latest_snapshot_id = NULL WHERE latest_snapshot_id IN"
            " (SELECT id FROM tokens_metricsnapshot WHERE date >= %s)",
            [u.today],
        )
        cursor.execute("DELETE FROM tokens_metricsnapshot WHERE date >= %s", [u.today])
        cursor.execute(
            "UPDATE tokens_token t SET latest_snapshot_id = (SELECT s.id FROM tokens_metricsnapshot s"
            " WHERE s.token_id = t.id ORDER BY s.date DESC LIMIT 1)"
        )
    if u.protocols:
        snapshots.snapshots_recompute(token_ids=u.revenue_token_ids, since=u.revenue_since)
        snapshots.revenue_reports_build(token_ids=u.revenue_token_ids)
    vacuum_analyze()


def log_to_file(path: Path) -> None:
    """This process logs as the worker does (INFO, to a file), not to the console."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)


@contextlib.contextmanager
def quiet_httpx():
    """The floor does not log each request."""
    import logging

    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


# --- The worker ------------------------------------------------------------------------


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._offset = 0
        self._partial = ""
        self.task_lines: list[str] = []  # the worker's "Task name[id] …" lines, in order

    def read_log(self) -> list[str]:
        """Task lines added to the log since the last read (reads only the new bytes)."""
        with self.log_path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk.decode(errors="replace")).split("\n")
        self._partial = lines.pop()
        new = [line for line in lines if " Task " in line or "WorkerLostError" in line]
        self.task_lines.extend(new)
        return new

    def task_outcome(self, task_id: str) -> str | None:
        """ "succeeded", "failed" or None (not finished), from the log."""
        self.read_log()
        for line in self.task_lines:
            if f"[{task_id}]" in line:
                if "] succeeded in" in line:
                    return "succeeded"
                if "] raised" in line or "] failed" in line:
                    return "failed"
        return None

    def retries(self, task_id: str) -> int:
        return sum(f"[{task_id}] retry:" in line for line in self.task_lines)

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            "--hostname",
            f"accrual-bench-{os.getpid()}@%h",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_for_log(" ready.", timeout, "the worker to start")

    def wait_for_log(self, text: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.exists() and text in self.log_path.read_text(errors="replace"):
                return
            self.check_alive()
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}; worker log {self.log_path}")

    def wait_idle(self, redis_client, timeout: float) -> list[dict]:
        """Wait until the broker holds no message for this worker (queued or unacknowledged,
        i.e. running: tasks ack late), and return the tasks that ran meanwhile — the
        follow-ups a refresh queues (ratings recompute…), which must not overlap the next
        measurement."""
        seen = len(self.task_lines)
        deadline = time.monotonic() + timeout
        queues = ["celery", *(f"celery\x06\x16{p}" for p in (3, 6, 9))]
        while sum(redis_client.llen(q) for q in queues) or redis_client.hlen("unacked"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker was still busy after {timeout:.0f}s")
            time.sleep(0.2)
        self.read_log()
        follow_ups = []
        for line in self.task_lines[seen:]:
            match = re.search(r"Task (\S+)\[[^]]+\] (succeeded in|raised|failed|retry)\S*\s*([0-9.]*)", line)
            if match:
                name, outcome, seconds = match.groups()
                follow_ups.append(
                    {
                        "task": name,
                        "outcome": outcome.split()[0],
                        "seconds": round(float(seconds), 2) if seconds else None,
                    }
                )
        return follow_ups

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the worker exited; its log:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class CpuMeter:
    """How much of the machine other processes used during a measurement: all busy CPU time
    (/proc/stat) less that of this benchmark's processes (this one, the server, the worker's
    process group, PostgreSQL client backends on the benchmark database — sampled twice a
    second, so that short-lived connections count too). This machine may be shared; a high
    share means the numbers are noisy."""

    def __init__(self, server_pid: int, worker: Worker | None, database_url: str) -> None:
        self.server_pid = server_pid
        self.worker = worker
        self.database_url = database_url
        self.database = urlsplit(database_url).path.lstrip("/")
        self.tick = os.sysconf("SC_CLK_TCK")

    def _processes(self) -> set[int]:
        """This process, the server, and the worker's process group."""
        pids = {os.getpid(), self.server_pid}
        group = self.worker.process.pid if self.worker and self.worker.process else None
        if group is not None:
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    fields = self._stat(int(entry))
                    if fields and int(fields[2]) == group:  # field 5 of /proc/<pid>/stat: process group
                        pids.add(int(entry))
        return pids

    def _backends(self, conn) -> set[int]:
        rows = conn.execute(  # client backends only: autovacuum is someone else's work
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            [self.database],
        ).fetchall()
        return {pid for (pid,) in rows}

    @staticmethod
    def _stat(pid: int) -> list[str] | None:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None

    def _cpu(self, fields: list[str]) -> float:
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def _busy(self) -> float:
        """user + nice + system + steal: irq and softirq time (loopback, disk) is left out, as it
        belongs to no process and is mostly this benchmark's own traffic."""
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]] + [0] * 8
        return (values[0] + values[1] + values[2] + values[7]) / self.tick

    def _all(self) -> dict[int, tuple[str, float]]:
        """Every process's name and CPU seconds."""
        snapshot = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        text = handle.read()
                    name = text[text.index("(") + 1 : text.rindex(")")]
                    snapshot[int(entry)] = (name, self._cpu(text.rsplit(")", 1)[1].split()))
                except (OSError, ValueError, IndexError):
                    continue
        return snapshot

    @contextlib.contextmanager
    def measure(self, into: dict, *, sampling: bool = True):
        """``sampling`` off: no thread in this process (for the floor, which runs here)."""
        import threading

        import psycopg

        conn = psycopg.connect(self.database_url, autocommit=True)
        ours: dict[int, float] = {}  # our pid -> its newest CPU reading

        def sample(pids: set[int]) -> None:
            for pid in pids | self._backends(conn):
                fields = self._stat(pid)
                if fields:
                    ours[pid] = self._cpu(fields)

        def sampler() -> None:
            while not stop.wait(0.5):
                sample(set())

        try:
            processes = self._processes()
            start_busy, start_all, started = self._busy(), self._all(), time.monotonic()
            sample(processes)
            stop = threading.Event()
            thread = threading.Thread(target=sampler, name="cpu-meter", daemon=True)
            if sampling:
                thread.start()
            try:
                yield
            finally:
                stop.set()
                if sampling:
                    thread.join()
            sample(processes | self._processes())
            wall = time.monotonic() - started
            end_busy, end_all = self._busy(), self._all()
        finally:
            conn.close()
        ours_seconds = sum(cpu - start_all.get(pid, ("", 0.0))[1] for pid, cpu in ours.items())
        other = max(end_busy - start_busy - ours_seconds, 0.0)
        top = sorted(
            (
                (cpu - start_all.get(pid, (name, 0.0))[1], f"{name}[{pid}]")
                for pid, (name, cpu) in end_all.items()
                if pid not in ours
            ),
            reverse=True,
        )
        into["cpu"] = {
            "ours_seconds": round(ours_seconds, 2),
            "other_seconds": round(other, 2),
            "other_share": round(other / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else 0.0,
            "other_top": [f"{label} {d:.1f}s" for d, label in top[:4] if d >= 0.5],
        }


def server_stats(server_url: str) -> dict[str, int]:
    import httpx

    return httpx.get(f"{server_url}/_stats", timeout=10).json()


def measure_refresh(app, worker: Worker, server_url: str, task: str, kind: str, timeout: float) -> dict:
    """Send ``task``, wait until the worker reports it done (after any retries), and time it
    from the send to the ``finished_at`` of its newest SyncRun of ``kind``."""
    from django.utils import timezone

    from apps.tokens.models import SyncRun

    before = server_stats(server_url)
    worker.read_log()
    sent_at = timezone.now()
    task_id = app.send_task(task).id
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while (outcome := worker.task_outcome(task_id)) is None:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{task} did not finish within {timeout:.0f}s")
        if time.monotonic() - last_note > 30:
            last_note = time.monotonic()
            say(f"  … {task} running")
        time.sleep(0.1)
    after = server_stats(server_url)
    run = SyncRun.objects.filter(kind=kind, started_at__gte=sent_at).order_by("-started_at").first()
    if run is None or run.finished_at is None:
        raise RuntimeError(f"{task} {outcome} without a finished {kind} run; worker log {worker.log_path}")
    seconds = (run.finished_at - sent_at).total_seconds()
    return {
        "task": task,
        "task_id": task_id,
        "task_outcome": outcome,
        "task_retries": worker.retries(task_id),
        "status": run.status,
        "error": run.error[:500],
        "seconds": round(seconds, 3),
        "queue_seconds": round((run.started_at - sent_at).total_seconds(), 3),
        "rows": run.rows_written,
        "run_pages": run.pages,
        "requests": {k: after[k] - before[k] for k in after},
        "rows_per_second": round(run.rows_written / seconds, 1) if seconds > 0 else None,
    }


def warm_worker(app, worker: Worker) -> None:
    """One trivial task first, so the measured runs don't pay the child's first-task costs."""
    task_id = app.send_task("tokens.recompute_snapshots", kwargs={"token_ids": []}).id
    worker.wait_for_log(f"[{task_id}] succeeded", 60, "the warm-up task")


# --- The floor -------------------------------------------------------------------------


def _floor_table(raw, like: str) -> str:
    table = f"bench_floor_{like.removeprefix('tokens_')}"
    raw.execute(f"DROP TABLE IF EXISTS {table}")
    raw.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING ALL)")
    raw.commit()
    return table


def _null(value) -> str:
    return "\\N" if value is None else repr(value) if isinstance(value, float) else str(value)


def floor_markets(raw, server_url: str, u: Universe) -> dict:
    """The same pages (/coins/markets, 250 ids a page) with one httpx client, json.loads,
    and one COPY of a PriceDay row per quote into a scratch table like tokens_priceday."""
    import httpx

    table = _floor_table(raw, "tokens_priceday")
    ids = sorted(u.data.coingecko_id(i) for i in range(1, u.tokens + 1))
    before = server_stats(server_url)
    started = time.perf_counter()
    payloads = []
    with httpx.Client(base_url=f"{server_url}/cg", timeout=60) as client:
        for start in range(0, len(ids), PER_PAGE):
            response = client.get(
                "/coins/markets",
                params={
                    "vs_currency": "usd",
                    "ids": ",".join(ids[start : start + PER_PAGE]),
                    "per_page": PER_PAGE,
                    "page": 1,
                    "price_change_percentage": "24h,7d,30d",
                },
            )
            response.raise_for_status()
            payloads.append(json.loads(response.content))
    fetched = time.perf_counter()
    token_ids = dict(raw.execute("SELECT coingecko_id, id FROM tokens_token WHERE coingecko_id IS NOT NULL"))
    now = dt.datetime.now(dt.UTC).isoformat()

    def lines():
        for page in payloads:
            for row in page:
                day = row["last_updated"][:10]
                yield (
                    f"{token_ids[row['id']]}\t{day}\t{_null(row['current_price'])}\t{_null(row['market_cap'])}\t"
                    f"{_null(row['fully_diluted_valuation'])}\t{_null(row['total_volume'])}\t{row['last_updated']}\t"
                    f"coingecko\t{now}\n"
                )

    columns = "token_id, date, price_usd, market_cap_usd, fdv_usd, volume_usd, observed_at, source, fetched_at"
    return _floor_write(raw, table, columns, lines(), started, fetched, before, server_url)


def floor_revenue(raw, server_url: str, u: Universe) -> dict:
    """The same /summary/fees calls (3 dataTypes per protocol), json.loads, the new days
    kept, and one COPY of a RevenueDay row per protocol and new day."""
    import httpx

    table = _floor_table(raw, "tokens_revenueday")
    slugs = [(u.token_ids[i], u.data.llama_slug(i)) for i in range(1, u.protocols + 1)]
    cutoff = int(dt.datetime.combine(u.stored_revenue[-1], dt.time.min, tzinfo=dt.UTC).timestamp())
    before = server_stats(server_url)
    started = time.perf_counter()
    new: dict[tuple[int, int], list] = {}
    with httpx.Client(base_url=f"{server_url}/llama", timeout=60) as client:
        for token_id, slug in slugs:
            for column, data_type in enumerate(DATA_TYPES):
                response = client.get(f"/summary/fees/{slug}", params={"dataType": data_type})
                response.raise_for_status()
                for stamp, value in json.loads(response.content)["totalDataChart"]:
                    if stamp > cutoff:
                        new.setdefault((token_id, stamp), [None, None, None])[column] = value
    fetched = time.perf_counter()
    now = dt.datetime.now(dt.UTC).isoformat()

    def lines():
        for (token_id, stamp), values in new.items():
            day = dt.datetime.fromtimestamp(stamp, dt.UTC).date()
            yield f"{token_id}\t{day}\t{_null(values[0])}\t{_null(values[1])}\t{_null(values[2])}\tdefillama\t{now}\n"

    columns = "token_id, date, fees_usd, revenue_usd, holders_revenue_usd, source, fetched_at"
    return _floor_write(raw, table, columns, lines(), started, fetched, before, server_url)


def _floor_write(raw, table: str, columns: str, lines, started: float, fetched: float, before: dict, server_url: str):
    """A floor's last step: one COPY of its rows into its scratch table (timed, with the
    fetching before it), then the table dropped (not timed); its result."""
    with raw.cursor() as cursor:
        rows = _copy(cursor, f"COPY {table} ({columns}) FROM STDIN", lines)
    raw.commit()
    seconds = time.perf_counter() - started
    after = server_stats(server_url)
    raw.execute(f"DROP TABLE {table}")
    raw.commit()
    return _floor_result(seconds, fetched - started, rows, after, before)


def _floor_result(seconds: float, fetch_seconds: float, rows: int, after: dict, before: dict) -> dict:
    return {
        "seconds": round(seconds, 3),
        "fetch_seconds": round(fetch_seconds, 3),
        "write_seconds": round(seconds - fetch_seconds, 3),
        "rows": rows,
        "requests": {k: after[k] - before[k] for k in after},
        "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
    }


# --- Profiles --------------------------------------------------------------------------


def _statement_timer(into: dict[str, list[float]]):
    """A Django execute wrapper adding each statement's time (in the database and the
    driver) under its first 110 characters."""

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            into.setdefault(" ".join(sql.split())[:110], []).append(time.perf_counter() - started)

    return wrapper


def profile_refreshes(u: Universe, out_dir: Path, stamp: str) -> dict:
    """The same refresh services the tasks call, in this process under cProfile, from the
    same state as the measured runs (reset first), against the same server and database."""
    from django.db import connection

    from apps.tokens import refresh

    reset_to_baseline(u)
    profiles = {}
    for name, call in (
        ("markets", lambda: refresh.market_refresh(provider=refresh.market_provider())),
        ("revenue", lambda: refresh.revenue_refresh(provider=refresh.revenue_provider())),
    ):
        say(f"profile: {name} refresh in-process under cProfile")
        profiler = cProfile.Profile()
        statements: dict[str, list[float]] = {}
        started = time.perf_counter()
        profiler.enable()
        with connection.execute_wrapper(_statement_timer(statements)):
            result = call()
        profiler.disable()
        seconds = time.perf_counter() - started
        path = out_dir / f"refresh-{stamp}-{name}.prof"
        profiler.dump_stats(path)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
        print(
            f"\n=== {name}: {seconds:.1f}s under cProfile, {result.run.rows_written} rows, status {result.run.status}"
        )
        print(text.getvalue())
        slowest = sorted(statements.items(), key=lambda item: -sum(item[1]))[:12]
        print(f"SQL: {sum(len(t) for t in statements.values())} statements, {sum(map(sum, statements.values())):.2f}s")
        for statement, times in slowest:
            print(f"  {sum(times):6.3f}s  x{len(times):<4} {statement}")
        profiles[name] = {
            "seconds_under_profiler": round(seconds, 3),
            "rows": result.run.rows_written,
            "file": str(path),
        }
    return profiles


# --- Main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens with a CoinGecko id (default 20000)")
    parser.add_argument("--protocols", type=int, default=5_000, help="of which with a DefiLlama slug (default 5000)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each refresh")
    parser.add_argument(
        "--floor-repeats", type=int, default=2, help="measure each floor this many times and keep the fastest"
    )
    parser.add_argument("--profile", action="store_true", help="then cProfile both refreshes in-process")
    parser.add_argument("--check", action="store_true", help="exit 1 if a refresh misses the goal")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if not 1 <= args.tokens <= 99_999 or not 0 <= args.protocols <= args.tokens:
        parser.error("need 1 <= --tokens <= 99999 and 0 <= --protocols <= --tokens")
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        parser.error(f"the benchmark empties its database; {name!r} does not look like a benchmark database")
    return args


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "apps", "config"))}


BUSY_SHARE = 0.1  # warn when other processes used more than this share of the machine…
BUSY_SECONDS = 0.5  # … and at least this much CPU time


def is_busy(cpu: dict) -> bool:
    return cpu["other_share"] > BUSY_SHARE and cpu["other_seconds"] >= BUSY_SECONDS


def busy_note(cpu: dict) -> str:
    share = cpu["cpu"]["other_share"]
    if not is_busy(cpu["cpu"]):
        return ""
    top = ", ".join(cpu["cpu"]["other_top"]) or "short-lived processes"
    return f" (WARNING: other processes used {share:.0%} of the machine — {top}: noisy)"


def print_table(results: dict) -> None:
    print()
    header = (
        f"{'refresh':<14}{'rows':>8}{'requests':>13}{'refresh s':>11}{'floor s':>9}{'ratio':>7}"
        f"{'rows/s':>9}{'floor rows/s':>14}  goal ≤{GOAL:g}× floor"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        refresh, floor = r["refresh"], r["floor"]
        requests = f"{refresh['requests']['total']}/{floor['requests']['total']}"
        print(
            f"{name:<14}{refresh['rows']:>8}{requests:>13}{refresh['seconds']:>11.2f}{floor['seconds']:>9.2f}"
            f"{r['ratio']:>7.1f}{refresh['rows_per_second'] or 0:>9.0f}{floor['rows_per_second'] or 0:>14.0f}"
            f"  {r['verdict']}"
        )
    print("(requests: refresh/floor, counted by the server; ratio = refresh s / floor s)")
    noisy = [
        f"{name} {part}" for name, r in results.items() for part in ("refresh", "floor") if is_busy(r[part]["cpu"])
    ]
    if noisy:
        print(f"WARNING: the machine was busy with other work during: {', '.join(noisy)}; rerun on a quiet machine.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    today = dt.datetime.now(dt.UTC).date()
    workdir = Path(tempfile.mkdtemp(prefix="accrual-bench-"))
    say(f"refresh benchmark: {args.tokens} tokens, {args.protocols} protocols; today {today}; logs in {workdir}")

    # The server process starts first: forked before Django or any database connection exists.
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    server_process = context.Process(
        target=serve, args=(child_end, args.tokens, args.protocols, today.isoformat()), name="bench-server", daemon=True
    )
    server_process.start()
    worker: Worker | None = None
    raw = None
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lock = None
    try:
        lock = run_lock(args.database_url, args.redis_url)  # after the fork: the server must not share its socket
        if not parent_end.poll(60):
            raise RuntimeError("the provider server did not start")
        server_url = parent_end.recv()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "development",
            "DEBUG": "false",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "ACCRUAL_DATA_MODE": "live",
            "COINGECKO_BASE_URL": f"{server_url}/cg",
            "DEFILLAMA_BASE_URL": f"{server_url}/llama",
            "COINGECKO_RATE_LIMIT_PER_MINUTE": "0",
            "DEFILLAMA_RATE_LIMIT_PER_MINUTE": "0",
            "COINGECKO_MONTHLY_QUOTA": "0",  # measures speed: 20,000 histories exceed a demo month
            "PROVIDER_READ_TIMEOUT": "60",
        }
        env.pop("COINGECKO_API_KEY", None)
        env.pop("DEFILLAMA_API_KEY", None)
        os.environ.clear()
        os.environ.update(env)
        say(f"provider server {server_url} (process {server_process.pid}); building responses")

        ensure_database(args.database_url)
        migrate(env)
        import django

        django.setup()
        log_to_file(workdir / "bench.log")
        import psycopg
        import redis
        from celery import Celery

        redis.Redis.from_url(args.redis_url).flushdb()
        universe = Universe(args.tokens, args.protocols, today)
        setup_universe(universe)

        if not parent_end.poll(300):
            raise RuntimeError("the provider server did not finish building its responses")
        parent_end.recv()
        say("provider server ready")

        worker = Worker(env, workdir / "worker.log")
        worker.start()
        app = Celery(broker=args.redis_url)
        broker = redis.Redis.from_url(args.redis_url)
        warm_worker(app, worker)
        worker.wait_idle(broker, 60)
        say(f"worker ready (process group {worker.process.pid}; log {worker.log_path})")

        raw = psycopg.connect(args.database_url)
        meter = CpuMeter(server_process.pid, worker, args.database_url)
        results: dict = {}
        for name, task, kind, floor in (
            ("markets", "tokens.refresh_markets", "markets", floor_markets),
            # The same quotes again, as a later refresh of the day that finds nothing moved:
            # everything is read and compared, nothing is written.
            ("markets-again", "tokens.refresh_markets", "markets", floor_markets),
            ("revenue", "tokens.refresh_revenue", "revenue-history", floor_revenue),
        ):
            if name == "revenue" and not args.protocols:
                continue
            checkpoint()
            floors = []
            for attempt in range(1, args.floor_repeats + 1):
                say(f"{name}: floor (httpx + json.loads + COPY), {attempt}/{args.floor_repeats}")
                cpu: dict = {}
                with quiet_httpx(), meter.measure(cpu, sampling=False):
                    floors.append(floor(raw, server_url, universe))
                floors[-1].update(cpu)
                say(f"{name}: floor {floors[-1]['seconds']:.2f}s, {floors[-1]['rows']} rows{busy_note(cpu)}")
            floor_result = {**min(floors, key=lambda f: f["seconds"]), "all_seconds": [f["seconds"] for f in floors]}
            checkpoint()
            say(f"{name}: refresh through the worker ({task})")
            with meter.measure(cpu):
                refresh_result = measure_refresh(app, worker, server_url, task, kind, args.timeout)
            refresh_result.update(cpu)
            say(
                f"{name}: refresh {refresh_result['seconds']:.2f}s, {refresh_result['rows']} rows, "
                f"{refresh_result['requests']['total']} requests, {refresh_result['status']}{busy_note(cpu)}"
            )
            refresh_result["follow_ups"] = worker.wait_idle(broker, args.timeout)
            for follow_up in refresh_result["follow_ups"]:
                say(
                    f"{name}: then the worker ran {follow_up['task']} ({follow_up['outcome']}, {follow_up['seconds']}s)"
                )
            ratio = refresh_result["seconds"] / floor_result["seconds"]
            ok = refresh_result["status"] == "succeeded" and not refresh_result["task_retries"] and ratio <= GOAL
            if refresh_result["task_retries"]:
                say(f"{name}: WARNING the task was retried {refresh_result['task_retries']}×; see {worker.log_path}")
            if refresh_result["rows"] != floor_result["rows"]:
                say(f"{name}: NOTE the refresh wrote {refresh_result['rows']} rows, the floor {floor_result['rows']}")
            results[name] = {
                "refresh": refresh_result,
                "floor": floor_result,
                "ratio": round(ratio, 2),
                "verdict": "PASS" if ok else "FAIL",
            }
        app.close()
        worker.stop()

        print_table(results)

        stamp = today.isoformat() + (
            "" if (args.tokens, args.protocols) == (20_000, 5_000) else f"-{args.tokens}x{args.protocols}"
        )
        args.results_dir.mkdir(parents=True, exist_ok=True)
        report = {
            "benchmark": "refresh",
            "date": today.isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tokens": args.tokens,
            "protocols": args.protocols,
            "stored_days": STORED_DAYS,
            "served_days": SERVED_DAYS,
            "goal_ratio": GOAL,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "git": git_state(),
            **results,
        }
        if args.profile:
            report["profiles"] = profile_refreshes(universe, args.results_dir, stamp)
        path = args.results_dir / f"refresh-{stamp}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        say(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        failed = [name for name, r in results.items() if r["verdict"] != "PASS"]
        return 1 if args.check and failed else 0
    except Exception:
        if worker is not None:
            print(f"--- worker log (tail) ---\n{worker.tail()}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if worker is not None:
            worker.stop()
        if raw is not None:
            raw.close()
        if lock is not None:
            lock.close()
        with contextlib.suppress(OSError):
            parent_end.send("stop")
        server_process.join(10)
        if server_process.is_alive():
            server_process.terminate()
            server_process.join(5)
        say("stopped the worker and the provider server")


if __name__ == "__main__":
    sys.exit(main())
