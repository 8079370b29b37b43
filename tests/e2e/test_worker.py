"""End to end with a real Celery worker process on Redis and PostgreSQL, fetching from a
real HTTP server on 127.0.0.1 that answers like CoinGecko and DefiLlama.

GIVEN tokens in the database and a worker configured for live providers
WHEN refresh tasks are sent to the broker as beat sends them
THEN facts, snapshots and runs are written — and a worker killed mid-task (SIGKILL) leads
to the task running again to the same end state; a second refresh writes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from apps.tokens import services
from apps.tokens.models import MetricSnapshot, RevenueDay, SyncRun, Token
from apps.tokens.providers.sample import SampleProvider
from tests.support.provider_server import ProviderServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("WORKER_TEST_BROKER_URL", "redis://127.0.0.1:6379/13")


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def postgres_and_redis():
    # On CI the services are started first, so a missing one is a failure, not a skip.
    missing = pytest.fail if os.environ.get("CI") else pytest.skip
    if connection.vendor != "postgresql":
        missing("the worker shares the test database: needs PostgreSQL (DATABASE_URL)")
    if not _redis_up():
        missing(f"needs Redis at {BROKER}")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    yield
    redis.Redis.from_url(BROKER).flushdb()


@pytest.fixture
def tracked_tokens(data_dir):
    """The catalogue only: no facts yet, so the refreshes backfill."""
    catalogue = SampleProvider(data_dir).catalogue()
    services.catalogue_upsert(catalogue=catalogue, source="editor", fetched_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


class Worker:
    def __init__(self, server: ProviderServer, log_path: Path) -> None:
        self.log_path = log_path
        db = connection.settings_dict
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DJANGO_ENV": "test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": BROKER,
            "ACCRUAL_DATA_MODE": "live",
            "COINGECKO_BASE_URL": f"{server.url}/cg",
            "DEFILLAMA_BASE_URL": f"{server.url}/llama",
            "COINGECKO_RATE_LIMIT_PER_MINUTE": "0",
            "DEFILLAMA_RATE_LIMIT_PER_MINUTE": "0",
            "COINGECKO_MONTHLY_QUOTA": "0",  # a shared Redis: no month-long count of test calls
            "PROVIDER_READ_TIMEOUT": "60",
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "CELERY_RESTORE_INTERVAL": "1",
            "CELERY_RESTORE_THROTTLE": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a SIGKILL takes the pool too
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker(postgres_and_redis, server, request):
    running = Worker(server, Path(f"/tmp/accrual-worker-{os.getpid()}.log"))
    running.start()
    yield running
    running.stop()
    connection.close()
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(running.log_path.read_text()[-5000:])


def send(task: str, **kwargs) -> str:
    # Not made the current app: the product's shared tasks would follow it to this broker.
    app = Celery(broker=BROKER, set_as_current=False)
    try:
        return app.send_task(task, kwargs=kwargs).id
    finally:
        app.close()


def wait_for(condition, timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def succeeded_runs(kind: str) -> list[SyncRun]:
    return list(SyncRun.objects.filter(kind=kind, status=SyncRun.Status.SUCCEEDED).order_by("started_at"))


def test_scheduled_refreshes_update_facts_and_snapshots(tracked_tokens, worker, server):
    send("tokens.refresh_revenue", backfill=True)
    send("tokens.refresh_price_history", backfill_days=400)
    send("tokens.refresh_markets")
    for kind in ("revenue-history", "price-history", "markets"):
        wait_for(lambda kind=kind: succeeded_runs(kind), what=f"a {kind} run")

    alpha = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    assert RevenueDay.objects.filter(token=alpha).count() == 180
    assert alpha.latest_snapshot.date == dt.date(2026, 3, 1)
    assert alpha.latest_snapshot.revenue_30d == D("1500000")
    assert alpha.latest_snapshot.price_source == "coingecko"
    assert any(path.startswith("/llama/summary/fees/alpha-llama") for path in server.requests)

    # The same refresh again, with the same upstream data, writes nothing.
    send("tokens.refresh_revenue", backfill=True)
    wait_for(lambda: len(succeeded_runs("revenue-history")) == 2, what="the second revenue run")
    assert succeeded_runs("revenue-history")[-1].rows_written == 0


def test_beat_schedules_the_market_refresh(tracked_tokens, worker, server, tmp_path):
    """Beat itself, with the market refresh every 2 seconds instead of 15 minutes."""
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT,
        env={**worker.env, "MARKETS_REFRESH_SECONDS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(succeeded_runs("markets")) >= 2, what="two scheduled market refreshes")
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(20)
    alpha = Token.objects.select_related("latest_snapshot").get(slug="alpha")
    assert alpha.latest_snapshot.price_usd == D("10") and alpha.latest_snapshot.price_source == "coingecko"
    assert succeeded_runs("markets")[0].rows_written == 3 and succeeded_runs("markets")[1].rows_written == 0


def test_a_worker_killed_mid_task_leads_to_a_rerun_and_the_same_end_state(tracked_tokens, worker, server):
    release = threading.Event()
    server.inject("/llama/summary/fees/gamma-llama", ("stall", release))
    send("tokens.refresh_revenue", backfill=True)
    wait_for(server.stalled.is_set, what="the worker to reach the stalled request")
    # Alpha is fetched, gamma in flight: a batch's facts are written together, after its fetches.
    assert not RevenueDay.objects.exists()

    worker.kill()
    release.set()
    interrupted = SyncRun.objects.get(kind="revenue-history")
    assert interrupted.status == SyncRun.Status.RUNNING

    worker.start()  # the broker redelivers the unacknowledged message after its visibility timeout
    wait_for(lambda: succeeded_runs("revenue-history"), what="the re-run to finish")

    interrupted.refresh_from_db()
    assert interrupted.status == SyncRun.Status.FAILED and "worker stopped" in interrupted.error
    assert RevenueDay.objects.filter(token__slug="alpha").count() == 180
    assert RevenueDay.objects.filter(token__slug="gamma").count() == 20
    gamma_days = [p.date for p in SampleProvider(server.data.root).revenue_history("gamma-llama")]
    assert sorted(RevenueDay.objects.filter(token__slug="gamma").values_list("date", flat=True)) == gamma_days
    assert MetricSnapshot.objects.filter(token__slug="alpha", revenue_30d=D("1500000")).exists()
