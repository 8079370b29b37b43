"""Refresh benchmark (issue 12): the market and revenue refreshes of a large universe, through a
real Celery worker, against a stand-in provider that enforces a per-minute limit as the real
ones do; the floor is the time the provider's rate allows for the calls made.

    python -m bench.bench_refresh                    # 20,000 tokens, 5,000 protocols, 500 a minute
    python -m bench.bench_refresh --tokens 2000 --protocols 500 --behind 100 --rate 120 \
        --demo-tokens 2000 --demo-rate 10            # a quick check, about 3 minutes

Steps: build the universe in a dedicated database (tokens, 120 days of prices and revenue,
snapshots, revenue reports: setup, not measured); serve CoinGecko and DefiLlama from a local
server process (SyntheticData, bodies built once) that refuses requests past its rolling
per-minute limit (429 with retry-after); then for each scenario start
``celery -A config worker --concurrency 1`` with the client's limit equal to the server's,
send the refresh task and time it until its SyncRun's finished_at. The server counts the
requests it served and refused. Results are printed and written to
bench/results/refresh-limited-<date>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import math
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.provider_data import SyntheticData  # noqa: E402
from tests.support.provider_server import ProviderServer  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
GOAL = 1.25  # a refresh's wall time within GOAL × its requests ÷ the rate
STORED_DAYS = 120  # history already in the database (revenue: for the protocols behind)
SERVED_DAYS = 125  # history the server returns, to yesterday
PER_PAGE = 250  # CoinGecko's page size (and the client's ids per request)
REVISION_DAYS = 3  # the refresh re-reads this many stored days (apps.tokens.history)
WINDOW = 60.0  # the providers' limits are per minute
RESULTS_DIR = ROOT / "bench" / "results"

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

    from apps.tokens import snapshots
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


def log_to_file(path: Path) -> None:
    """This process logs as the worker does (INFO, to a file), not to the console."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)


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
        """``sampling`` off: no thread in this process (for work measured in this process)."""
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


# --- Scenarios and their measurement ---------------------------------------------------

PROVIDER_ENDPOINTS = {
    "/cg": ("markets", "market_chart", "coingecko_other"),
    "/llama": ("summary_fees", "overview_fees", "defillama_other"),
}


@dataclass
class Scenario:
    """One refresh against the server, the client and the server both at ``rate`` a minute."""

    name: str
    task: str
    kind: str  # the SyncRun's kind
    prefix: str  # the provider's path on the server
    rate: int
    what: str
    kwargs: dict = field(default_factory=dict)


def server_stats(server_url: str) -> dict[str, dict[str, int]]:
    import httpx

    return httpx.get(f"{server_url}/_stats", timeout=10).json()


def _counted(before: dict, after: dict, endpoints: tuple[str, ...], outcome: str) -> int:
    return sum(after.get(e, {}).get(outcome, 0) - before.get(e, {}).get(outcome, 0) for e in endpoints)


def client_log_counts(worker: Worker) -> dict[str, int]:
    """What the worker's client logged: retries after a 429, and waits of its own limiter."""
    text = worker.log_path.read_text(errors="replace")
    return {"retried_429": len(re.findall(r"failed \(HTTP 429", text)), "limiter_waits": text.count("window full")}


def measure_refresh(app, worker: Worker, server_url: str, scenario: Scenario, timeout: float) -> dict:
    """Send the scenario's task, wait until the worker reports it done (after any retries),
    and time it from the send to the ``finished_at`` of its newest SyncRun; the requests
    are the server's counts for the scenario's provider."""
    from django.utils import timezone

    from apps.tokens.models import SyncRun

    before = server_stats(server_url)
    worker.read_log()
    sent_at = timezone.now()
    task_id = app.send_task(scenario.task, kwargs=scenario.kwargs).id
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while (outcome := worker.task_outcome(task_id)) is None:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{scenario.task} did not finish within {timeout:.0f}s")
        if time.monotonic() - last_note > 30:
            last_note = time.monotonic()
            now = server_stats(server_url)
            endpoints = PROVIDER_ENDPOINTS[scenario.prefix]
            say(
                f"  … {scenario.name} running: {_counted(before, now, endpoints, 'served')} served, "
                f"{_counted(before, now, endpoints, 'refused')} refused so far"
            )
        time.sleep(0.1)
    after = server_stats(server_url)
    run = SyncRun.objects.filter(kind=scenario.kind, started_at__gte=sent_at).order_by("-started_at").first()
    if run is None or run.finished_at is None:
        raise RuntimeError(f"{scenario.task} {outcome} without a finished {scenario.kind} run; log {worker.log_path}")
    seconds = (run.finished_at - sent_at).total_seconds()
    endpoints = PROVIDER_ENDPOINTS[scenario.prefix]
    served = _counted(before, after, endpoints, "served")
    refused = _counted(before, after, endpoints, "refused")
    floor = served / (scenario.rate / WINDOW)
    # From an empty window a client may send `rate` at once, so R requests can end after
    # (⌈R/rate⌉ − 1) windows: below R ÷ rate when the last window is not full.
    window_floor = (math.ceil(served / scenario.rate) - 1) * WINDOW if served else 0.0
    return {
        "task": scenario.task,
        "task_kwargs": {k: (len(v) if isinstance(v, list) else v) for k, v in scenario.kwargs.items()},
        "task_id": task_id,
        "task_outcome": outcome,
        "task_retries": worker.retries(task_id),
        "status": run.status,
        "error": run.error[:500],
        "seconds": round(seconds, 2),
        "queue_seconds": round((run.started_at - sent_at).total_seconds(), 3),
        "rows": run.rows_written,
        "run_pages": run.pages,
        "run_retries": run.retries,
        "requests": {
            "sent": served + refused,
            "served": served,
            "refused_429": refused,
            "by_endpoint": {
                e: {o: after.get(e, {}).get(o, 0) - before.get(e, {}).get(o, 0) for o in ("served", "refused")}
                for e in endpoints
                if e in after
            },
        },
        "floor_seconds": round(floor, 2),
        "window_floor_seconds": round(window_floor, 2),
        "ratio": round(seconds / floor, 3) if floor else None,
        "window_ratio": round(seconds / window_floor, 3) if window_floor else None,
        "client": client_log_counts(worker),
    }


def warm_worker(app, worker: Worker) -> None:
    """One trivial task first, so the measured runs don't pay the child's first-task costs."""
    task_id = app.send_task("tokens.recompute_snapshots", kwargs={"token_ids": []}).id
    worker.wait_for_log(f"[{task_id}] succeeded", 60, "the warm-up task")


# --- Main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens with a CoinGecko id (default 20000)")
    parser.add_argument("--protocols", type=int, default=5_000, help="of which with a DefiLlama slug (default 5000)")
    parser.add_argument(
        "--behind",
        type=int,
        default=None,
        help="protocols six days behind, fetched one by one (default a tenth); the others are\n"
        "one day behind and take yesterday from the overview",
    )
    parser.add_argument("--rate", type=int, default=500, help="requests a minute, server and client (default 500)")
    parser.add_argument(
        "--demo-tokens", type=int, default=15_000, help="tokens in the demo-plan market refresh (default 15000)"
    )
    parser.add_argument("--demo-rate", type=int, default=30, help="the demo plan's requests a minute (default 30)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each refresh")
    parser.add_argument("--check", action="store_true", help="exit 1 if a refresh misses the goal")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if not 1 <= args.tokens <= 99_999 or not 0 <= args.protocols <= args.tokens:
        parser.error("need 1 <= --tokens <= 99999 and 0 <= --protocols <= --tokens")
    args.behind = args.protocols // 10 if args.behind is None else args.behind
    if not 0 <= args.behind <= args.protocols:
        parser.error("need 0 <= --behind <= --protocols")
    if args.rate < 1 or args.demo_rate < 1 or args.demo_tokens < 0:
        parser.error("rates must be at least 1, --demo-tokens at least 0")
    args.demo_tokens = min(args.demo_tokens, args.tokens)
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        parser.error(f"the benchmark empties its database; {name!r} does not look like a benchmark database")
    return args


def scenarios(args: argparse.Namespace, u: Universe) -> list[Scenario]:
    calls = -(-args.tokens // PER_PAGE)
    demo_calls = -(-args.demo_tokens // PER_PAGE)
    found = [
        Scenario(
            "markets",
            "tokens.refresh_markets",
            "markets",
            "/cg",
            args.rate,
            f"{args.tokens} tokens ({calls} calls) at {args.rate}/min",
        ),
    ]
    if args.protocols:
        found.append(
            Scenario(
                "revenue",
                "tokens.refresh_revenue",
                "revenue-history",
                "/llama",
                args.rate,
                f"{args.protocols} protocols, {args.behind} of them behind ({3 + 3 * args.behind} calls)"
                f" at {args.rate}/min",
            )
        )
    if args.demo_tokens:
        found.append(
            Scenario(
                "markets-demo",
                "tokens.refresh_markets",
                "markets",
                "/cg",
                args.demo_rate,
                f"{args.demo_tokens} tokens ({demo_calls} calls) at {args.demo_rate}/min",
                # The demo plan's universe: a later refresh of the day, so nothing new is written.
                {"token_ids": [u.token_ids[i] for i in range(1, args.demo_tokens + 1)]},
            )
        )
    return found


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "apps", "config"))}


BUSY_SHARE = 0.1  # warn when other processes used more than this share of the machine…
BUSY_SECONDS = 0.5  # … and at least this much CPU time


def is_busy(cpu: dict) -> bool:
    return cpu["other_share"] > BUSY_SHARE and cpu["other_seconds"] >= BUSY_SECONDS


def print_table(results: dict) -> None:
    print()
    header = (
        f"{'refresh':<14}{'rate/min':>9}{'sent':>7}{'429s':>6}{'wall s':>9}{'floor s':>9}{'ratio':>7}"
        f"{'window floor s':>16}{'÷ it':>7}  goal ≤{GOAL:g}× floor"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        requests = r["requests"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        window_ratio = f"{r['window_ratio']:.2f}" if r["window_ratio"] is not None else "—"
        print(
            f"{name:<14}{r['rate_per_minute']:>9}{requests['sent']:>7}{requests['refused_429']:>6}{r['seconds']:>9.1f}"
            f"{r['floor_seconds']:>9.1f}{ratio:>7}{r['window_floor_seconds']:>16.1f}{window_ratio:>7}  {r['verdict']}"
            f"{'' if r['status'] == 'succeeded' else ' (' + r['status'] + ')'}"
        )
    print(
        "(sent = served + refused, counted by the server; floor = served ÷ rate; ratio = wall ÷ floor;\n"
        " window floor = (⌈served ÷ rate⌉ − 1) × 60 s, what a client starting from an empty window could reach;\n"
        " ÷ it = wall ÷ window floor)"
    )
    for name, r in results.items():
        if r["window_ratio"] is not None and r["window_ratio"] > GOAL:
            print(f"NOTE: {name} took {r['window_ratio']:.2f}× its window floor: the client lost time to the limit.")
    noisy = [name for name, r in results.items() if is_busy(r["cpu"])]
    if noisy:
        print(f"WARNING: the machine was busy with other work during: {', '.join(noisy)}.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    today = dt.datetime.now(dt.UTC).date()
    workdir = Path(tempfile.mkdtemp(prefix="accrual-bench-"))
    say(
        f"refresh benchmark: {args.tokens} tokens, {args.protocols} protocols ({args.behind} behind), "
        f"{args.rate}/min; demo plan {args.demo_tokens} tokens at {args.demo_rate}/min; today {today}; "
        f"logs in {workdir}"
    )

    # The server process starts first: forked before Django or any database connection exists.
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    server_process = context.Process(
        target=serve, args=(child_end, args.tokens, args.protocols, today.isoformat()), name="bench-server", daemon=True
    )
    server_process.start()
    worker: Worker | None = None
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
            "COINGECKO_MONTHLY_QUOTA": "0",  # the bench measures pace, not the month's budget
            "DEFILLAMA_MONTHLY_QUOTA": "0",
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
        import redis
        from celery import Celery

        broker = redis.Redis.from_url(args.redis_url)
        broker.flushdb()
        universe = Universe(args.tokens, args.protocols, args.behind, today)
        setup_universe(universe)

        if not parent_end.poll(600):
            raise RuntimeError("the provider server did not finish building its responses")
        parent_end.recv()
        say("provider server ready")

        app = Celery(broker=args.redis_url)
        results: dict = {}
        for scenario in scenarios(args, universe):
            # Each scenario starts from rest: no request in either window, the client's limiter,
            # circuit and locks forgotten (the worker is stopped, so the broker holds nothing).
            if worker is not None:
                worker.stop()
            broker.flushdb()
            server_limits(parent_end, {"/cg": scenario.rate, "/llama": scenario.rate})
            worker_env = {
                **env,
                "COINGECKO_RATE_LIMIT_PER_MINUTE": str(scenario.rate),
                "DEFILLAMA_RATE_LIMIT_PER_MINUTE": str(scenario.rate),
            }
            worker = Worker(worker_env, workdir / f"worker-{scenario.name}.log")
            worker.start()
            warm_worker(app, worker)
            worker.wait_idle(broker, 60)
            checkpoint()
            say(f"{scenario.name}: {scenario.what}, through the worker ({scenario.task})")
            cpu: dict = {}
            with CpuMeter(server_process.pid, worker, args.database_url).measure(cpu):
                result = measure_refresh(app, worker, server_url, scenario, args.timeout)
            result.update(cpu, scenario=scenario.what, rate_per_minute=scenario.rate)
            requests = result["requests"]
            say(
                f"{scenario.name}: {result['seconds']:.1f}s for {requests['sent']} requests "
                f"({requests['refused_429']} refused with 429), floor {result['floor_seconds']:.1f}s, "
                f"{result['rows']} rows, {result['status']}"
            )
            result["follow_ups"] = worker.wait_idle(broker, args.timeout)
            for follow_up in result["follow_ups"]:
                say(f"{scenario.name}: then the worker ran {follow_up['task']} ({follow_up['outcome']})")
            ok = (
                result["status"] == "succeeded"
                and not result["task_retries"]
                and result["ratio"] is not None
                and result["ratio"] <= GOAL
            )
            if result["task_retries"]:
                say(f"{scenario.name}: WARNING the task was retried {result['task_retries']}×; see {worker.log_path}")
            results[scenario.name] = {**result, "verdict": "PASS" if ok else "FAIL"}
        app.close()
        if worker is not None:
            worker.stop()

        print_table(results)

        sizes = (args.tokens, args.protocols, args.behind, args.rate, args.demo_tokens, args.demo_rate)
        default = sizes == (20_000, 5_000, 500, 500, 15_000, 30)
        stamp = today.isoformat() + ("" if default else f"-{args.tokens}x{args.protocols}-{args.rate}")
        args.results_dir.mkdir(parents=True, exist_ok=True)
        report = {
            "benchmark": "refresh-limited",
            "date": today.isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, "-m", "bench.bench_refresh", *(argv or sys.argv[1:])]),
            "tokens": args.tokens,
            "protocols": args.protocols,
            "protocols_behind": args.behind,
            "rate_per_minute": args.rate,
            "demo_tokens": args.demo_tokens,
            "demo_rate_per_minute": args.demo_rate,
            "goal_ratio": GOAL,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "git": git_state(),
            **results,
        }
        path = args.results_dir / f"refresh-limited-{stamp}.json"
        for run in range(2, 100):  # a day's later runs keep the earlier ones
            if not path.exists():
                break
            path = args.results_dir / f"refresh-limited-{stamp}-run{run}.json"
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
