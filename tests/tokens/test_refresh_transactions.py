"""No transaction is open while a refresh waits on the network: a slow, rate-limited
stand-in provider holds each page, and another connection reads the refresh's session in
pg_stat_activity meanwhile. (Not inside the test's own transaction: ``transaction=True``.)
Nor does any scratch table outlive the transaction that made it."""

import threading

import psycopg
import pytest
from django.db import connection

from apps.tokens import refresh
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import SyncRun, Token
from apps.tokens.providers.sample import SampleProvider
from tests.support.data_set import hold

from .test_refresh_faults import FakeClock, coingecko, market_requests

pytestmark = pytest.mark.django_db(transaction=True)


class SessionWatch:
    """Reads one backend's state in pg_stat_activity from a connection of its own."""

    def __init__(self, pid: int):
        settings = connection.settings_dict
        self.pid = pid
        self.observer = psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            password=settings["PASSWORD"] or None,
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            autocommit=True,
        )
        self.seen: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def look(self) -> None:
        with self._lock:
            row = self.observer.execute(
                "SELECT state, xact_start FROM pg_stat_activity WHERE pid = %s", [self.pid]
            ).fetchone()
            self.seen.append(row)

    def close(self) -> None:
        self.observer.close()


def test_no_transaction_is_open_while_market_pages_are_fetched(server, data_dir):
    if connection.vendor != "postgresql":
        pytest.skip("pg_stat_activity")
    sample_data_load(provider=SampleProvider(data_dir))
    hold("live")
    connection.ensure_connection()
    watch = SessionWatch(connection.connection.info.backend_pid)

    class RateLimited(FakeClock):
        def sleep(self, seconds: float) -> None:  # a rate-limit wait: look at the refresh meanwhile
            watch.look()
            super().sleep(seconds)

    pages = Token.objects.exclude(coingecko_id=None).count()  # one a page, per_page=1
    releases = [threading.Event() for _ in range(pages)]
    server.inject("/cg/coins/markets", ("429", 2), *[("stall", release) for release in releases])
    done = threading.Event()

    def hold_each_page() -> None:  # the slow provider: each page waits until it has been looked at
        for release in releases:
            while not server.stalled.wait(0.05):
                if done.is_set():
                    return
            watch.look()
            server.stalled.clear()
            release.set()

    watcher = threading.Thread(target=hold_each_page)
    watcher.start()
    clock = RateLimited()
    try:
        result = refresh.market_refresh(provider=coingecko(server, clock, per_page=1))
    finally:
        done.set()
        for release in releases:
            release.set()
        watcher.join(10)
        watch.close()
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert clock.sleeps and len(market_requests(server)) == 1 + pages
    assert len(watch.seen) == 1 + pages
    assert all(xact_start is None for _, xact_start in watch.seen), watch.seen
    assert {state for state, _ in watch.seen} == {"idle"}
    # Nor does a scratch table outlive its transaction: under PgBouncer's transaction pooling
    # the session may serve another client next.
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relpersistence = 't'")
        assert cursor.fetchall() == []
