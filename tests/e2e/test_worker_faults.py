"""End to end, the Jobs promises of RELIABILITY.md that need a broken or real broker.

GIVEN a real Celery worker and beat on a private Redis (its own ``redis-server`` on a free
port, so the machine's shared Redis is never restarted)
WHEN that Redis is killed and started again
THEN the same worker process reconnects and the next scheduled refresh completes.

GIVEN the product's own ways of queuing a task (the admin's "Refresh now", the ratings
recompute after a refresh) and a real Redis broker, not eager execution
WHEN they run inside a transaction that rolls back
THEN nothing reaches the broker — and inside one that commits, the task is sent on commit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import redis
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from apps.tokens import tasks
from apps.tokens.models import SyncRun
from apps.tokens.refresh import RefreshResult
from config.celery import app as celery_app
from tests.e2e import test_worker as worker_e2e
from tests.e2e.test_worker import ROOT, Worker, succeeded_runs, wait_for
from tests.support import redis_server
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The token catalogue, as in test_worker (the data and its server are in tests/conftest.py).
tracked_tokens = worker_e2e.tracked_tokens

# A database of the shared Redis that no other test uses: the broker of the on-commit tests.
BROKER = os.environ.get("FAULTS_TEST_BROKER_URL", "redis://127.0.0.1:6379/7")


def missing(reason: str) -> None:
    # On CI the services are started first, so a missing one is a failure, not a skip.
    (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)


def print_log_if_failed(request, *paths) -> None:
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        for path in paths:
            print(f"--- {path.name}\n{path.read_text()[-5000:] if path.exists() else '(none)'}")


# --- Redis restarts ---------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path):
    if connection.vendor != "postgresql":
        missing("the worker shares the test database: needs PostgreSQL (DATABASE_URL)")
    if not redis_server.available():
        missing("needs the redis-server binary, to run a private Redis that can be restarted")
    with RedisServer(tmp_path / "redis") as running:
        yield running


@pytest.fixture
def worker(private_redis, server, request, tmp_path):
    """A worker whose broker and refresh locks (REDIS_URL) are the private Redis."""
    running = Worker(server, tmp_path / "worker.log")
    running.env["REDIS_URL"] = private_redis.url(0)
    running.start()
    yield running
    running.stop()
    connection.close()
    print_log_if_failed(request, running.log_path, private_redis.log_path)


@pytest.fixture
def beat(worker, request, tmp_path):
    """Beat itself, with the market refresh every 2 seconds instead of 15 minutes."""
    log_path, schedule = tmp_path / "beat.log", str(tmp_path / "beat-schedule")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO", "--schedule", schedule],
        cwd=ROOT,
        env={**worker.env, "MARKETS_REFRESH_SECONDS": "2"},
        stdout=log_path.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    print_log_if_failed(request, log_path)


def test_after_redis_restarts_the_worker_reconnects_and_the_next_scheduled_refresh_completes(
    tracked_tokens, private_redis, worker, beat
):
    wait_for(lambda: succeeded_runs("markets"), timeout=60, what="a first scheduled market refresh")

    private_redis.kill()  # SIGKILL, no persistence: queues, unacked messages and locks are gone
    time.sleep(3)
    assert worker.process.poll() is None, "the worker exited while Redis was down"
    private_redis.start()
    restarted_at = timezone.now()

    def refreshed_after_restart() -> bool:
        assert worker.process.poll() is None, "the worker exited instead of reconnecting"
        return SyncRun.objects.filter(
            kind="markets", status=SyncRun.Status.SUCCEEDED, started_at__gt=restarted_at
        ).exists()

    wait_for(refreshed_after_restart, timeout=60, what="a scheduled market refresh after Redis restarted")
    assert worker.process.poll() is None and beat.poll() is None
    log = worker.log_path.read_text()
    assert "Connection to broker lost" in log  # it did see Redis go
    # …and it would keep trying however long Redis stays down (Celery's default gives up
    # after 100 attempts and the worker exits).
    assert re.search(r"Trying again in .*\(1/None\)", log)


# --- Tasks are sent on commit -----------------------------------------------------------


@pytest.fixture
def broker(monkeypatch):
    """The product's Celery app sending to a real Redis broker (the test settings run tasks
    eagerly), with no worker: what was sent stays in the broker's queues to be read."""
    client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        missing(f"needs Redis at {BROKER}")
    client.flushdb()
    monkeypatch.setitem(celery_app.conf, "broker_url", BROKER)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    # Eager tasks may have pooled connections to the test settings' memory:// broker: new
    # pools for this test, and monkeypatch gives the old ones back afterwards.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    # kombu keeps the new pools by broker URL for the next test, so they are not closed.
    yield client
    client.flushdb()


def sent_tasks(client: redis.Redis) -> list[str]:
    """The task names of every message waiting in any queue of the broker."""
    return [
        json.loads(raw)["headers"]["task"]
        for key in client.scan_iter()
        if client.type(key) == b"list"
        for raw in client.lrange(key, 0, -1)
    ]


@pytest.fixture
def markets_run():
    return SyncRun.objects.create(
        provider="coingecko", kind="markets", status=SyncRun.Status.SUCCEEDED, started_at=timezone.now()
    )


def refresh_now_in_admin(client, admin_user, run: SyncRun) -> None:
    """An editor's "Refresh now" on a markets run in the admin."""
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:tokens_syncrun_changelist"), {"action": "refresh_now", "_selected_action": [run.pk]}
    )
    assert response.status_code == 302


def ratings_recompute_after_refresh(client, admin_user, run: SyncRun) -> None:
    """What every refresh task does once its facts changed: queue the ratings recompute and the
    alerts' evaluation."""
    tasks._summary(RefreshResult(run=run, changed_tokens={1, 2}))


QUEUING_PATHS = [
    pytest.param(refresh_now_in_admin, ["tokens.refresh_markets"], id="admin-refresh-now"),
    pytest.param(ratings_recompute_after_refresh, ["alerts.evaluate", "ratings.recompute"], id="ratings-after-refresh"),
]


class RolledBack(Exception):
    pass


@pytest.mark.parametrize(("queue", "tasks_sent"), QUEUING_PATHS)
def test_a_task_queued_in_a_transaction_that_rolls_back_is_never_sent(
    broker, client, admin_user, markets_run, queue, tasks_sent
):
    with pytest.raises(RolledBack), transaction.atomic():
        queue(client, admin_user, markets_run)
        raise RolledBack

    assert sent_tasks(broker) == []


@pytest.mark.parametrize(("queue", "tasks_sent"), QUEUING_PATHS)
def test_a_task_queued_in_a_transaction_that_commits_is_sent_on_commit(
    broker, client, admin_user, markets_run, queue, tasks_sent
):
    with transaction.atomic():
        queue(client, admin_user, markets_run)
        assert sent_tasks(broker) == []

    assert sorted(sent_tasks(broker)) == tasks_sent
