"""The single-flight lock (Redis SET NX PX with an owner, and the process-local fallback) and
its users: refresh tasks and ``refresh_data`` exclude each other.

GIVEN a lock taken by one owner
WHEN others contend for it, release it, or wait for it to expire
THEN exactly one holds it at a time, only its owner frees it, and its TTL frees it anyway.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.tokens.locks import FlightLock, single_flight_lock
from apps.tokens.models import SyncRun


def lock_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def test_of_many_contenders_exactly_one_wins(lock_backend):
    name, contenders = lock_name(), 16
    barrier = threading.Barrier(contenders)
    winners, done = [], threading.Event()

    def contend(i: int) -> None:
        barrier.wait()
        with single_flight_lock(name, 30, owner=f"owner-{i}") as lock:
            if lock:
                winners.append(i)
                done.wait(5)  # hold it while the others try

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    done.set()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_another_process_cannot_take_a_held_lock(lock_backend):
    if lock_backend is None:
        pytest.skip("the process-local lock is by design one process's")
    name = lock_name()
    code = textwrap.dedent(
        f"""
        import django, os
        os.environ["REDIS_URL"] = {lock_backend!r}
        django.setup()
        from apps.tokens.locks import single_flight_lock
        with single_flight_lock({name!r}, 30) as lock:
            print("acquired" if lock else "refused")
        """
    )

    def other_process() -> str:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout.strip()

    with single_flight_lock(name, 30) as lock:
        assert lock
        assert other_process() == "refused"
    assert other_process() == "acquired"


def test_a_non_owner_can_neither_release_nor_extend(lock_backend):
    name = lock_name()
    mine = FlightLock(name, 30, "me", lock_backend)
    theirs = FlightLock(name, 30, "them", lock_backend)
    assert mine.acquire()
    assert not theirs.acquire()
    assert not theirs.release() and not theirs.extend()
    theirs.acquired = True  # even a confused holder cannot delete another owner's lock
    assert not theirs.release()
    assert not FlightLock(name, 30, "a third", lock_backend).acquire()
    assert mine.release()
    assert FlightLock(name, 30, "a third", lock_backend).acquire()


def test_expiry_frees_a_lock_whose_holder_died(lock_backend):
    name = lock_name()
    dead = FlightLock(name, 0.2, "dead-worker", lock_backend)
    assert dead.acquire()
    assert not FlightLock(name, 30, "next", lock_backend).acquire()
    time.sleep(0.3)
    assert FlightLock(name, 30, "next", lock_backend).acquire()
    assert not dead.release()  # the late holder cannot free its successor's lock
    assert not dead.extend()


def test_the_owner_extends_its_lock(lock_backend):
    name = lock_name()
    lock = FlightLock(name, 0.3, "me", lock_backend)
    assert lock.acquire()
    time.sleep(0.2)
    assert lock.extend(1.0)
    time.sleep(0.2)  # past the first TTL
    assert not FlightLock(name, 30, "other", lock_backend).acquire()


def test_the_same_owner_takes_over_its_own_lock(lock_backend):
    name = lock_name()
    assert FlightLock(name, 30, "task-42", lock_backend).acquire()
    again = FlightLock(name, 30, "task-42", lock_backend)  # the redelivered task
    assert again.acquire()
    assert again.release()
    assert FlightLock(name, 30, "task-43", lock_backend).acquire()


# --- refresh_data and the workers' locks ---------------------------------------------------


@pytest.fixture
def sample(tmp_path, monkeypatch):
    from apps.tokens.ingestion import sample_data_load
    from apps.tokens.providers.sample import SampleProvider

    from .sample_builder import write_sample

    provider = SampleProvider(write_sample(tmp_path / "sample"))
    sample_data_load(provider=provider)
    monkeypatch.setattr("apps.tokens.refresh.market_provider", lambda: provider)
    monkeypatch.setattr("apps.tokens.refresh.revenue_provider", lambda: provider)
    return provider


@pytest.mark.django_db
def test_refresh_data_refuses_while_a_worker_holds_the_lock_and_leaves_its_run_running(sample, lock_backend):
    running = SyncRun.objects.create(provider="sample", kind="markets", started_at="2026-03-01T00:00Z")
    worker = FlightLock("refresh_markets", 600, "worker-task-id", lock_backend)
    assert worker.acquire()
    runs_before = SyncRun.objects.count()

    with pytest.raises(CommandError, match="markets refresh is running in a worker") as refused:
        call_command("refresh_data", "markets", stdout=io.StringIO(), stderr=io.StringIO())
    assert refused.value.returncode == 75

    running.refresh_from_db()
    assert running.status == SyncRun.Status.RUNNING and not running.error
    assert SyncRun.objects.count() == runs_before  # no run of its own either
    assert worker.release()  # the worker's lock is untouched


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("word", "task_lock"),
    [
        ("universe", "refresh_universe"),
        ("markets", "refresh_markets"),
        ("prices", "refresh_price_history"),
        ("revenue", "refresh_revenue"),
    ],
)
def test_each_refresh_data_kind_takes_its_tasks_lock(sample, lock_backend, word, task_lock):
    worker = FlightLock(task_lock, 600, "worker-task-id", lock_backend)
    assert worker.acquire()
    with pytest.raises(CommandError, match=f"{word} refresh is running in a worker now \\(lock {task_lock} held\\)"):
        call_command("refresh_data", word, stdout=io.StringIO(), stderr=io.StringIO())
    assert worker.release()


@pytest.mark.django_db
def test_refresh_data_takes_the_lock_and_only_then_closes_a_dead_workers_run(sample, lock_backend, monkeypatch):
    from apps.tokens import services

    orphan = SyncRun.objects.create(provider="sample", kind="markets", started_at="2026-03-01T00:00Z")
    real_start, worker_could_start = services.sync_run_start, []

    def start(**kwargs):
        worker_could_start.append(FlightLock("refresh_markets", 60, "a-worker", lock_backend).acquire())
        return real_start(**kwargs)

    monkeypatch.setattr(services, "sync_run_start", start)
    call_command("refresh_data", "markets", stdout=io.StringIO(), stderr=io.StringIO())
    assert worker_could_start == [False]  # while it marked the orphan, no worker could have started
    orphan.refresh_from_db()
    assert orphan.status == SyncRun.Status.FAILED and "worker stopped" in orphan.error
    assert FlightLock("refresh_markets", 60, "a-worker", lock_backend).acquire()  # released after
