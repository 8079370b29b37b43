"""config/postgres.py: timestamps read through psycopg's compiled loader on a UTC session.

GIVEN a PostgreSQL connection opened by Django (USE_TZ, UTC session)
WHEN timestamps are written and read back through the ORM and raw SQL
THEN the compiled loader is installed and gives exactly the aware UTC datetimes Django's
own loader gives.
"""

import datetime as dt

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from apps.tokens.models import SyncRun
from config.postgres import utc_timestamp_loader

pytestmark = pytest.mark.django_db

pytest.importorskip("psycopg")


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL connection tuning")
    if utc_timestamp_loader() is None:
        pytest.skip("psycopg without its C build")


def test_the_compiled_loader_reads_what_djangos_loader_reads():
    connection.ensure_connection()
    loaders = connection.connection.adapters
    assert loaders.get_loader(1184, 0) is utc_timestamp_loader()
    moments = [
        dt.datetime(2026, 11, 24, 3, 34, 28, 123456, tzinfo=dt.UTC),
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    ]
    for moment in moments:
        SyncRun.objects.create(provider="coingecko", kind="markets", started_at=moment)
    fast = list(SyncRun.objects.order_by("pk").values_list("started_at", flat=True))
    assert fast == moments
    assert all(value.tzinfo is dt.UTC for value in fast)

    with connection.cursor() as cursor:  # Django's own loader, on this cursor only
        register_tzloader(dt.UTC, cursor.cursor)
        cursor.execute("SELECT started_at FROM tokens_syncrun ORDER BY id")
        slow = [row[0] for row in cursor.fetchall()]
    assert slow == fast and [v.utcoffset() for v in slow] == [v.utcoffset() for v in fast]


def test_sessions_run_without_jit_compilation():
    """JIT compiling costs more than it saves on this app's statements (settings.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_token_pages_keep_room_for_the_refreshs_rewrite_in_place():
    """Migration 0004: a market refresh rewrites every quoted token (its supplies and its
    latest-snapshot pointer, in one UPDATE); with room left on its page the rewrite is HOT
    and adds no entry to any of the table's indexes (bench/README.md)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'tokens_token'")
        assert "fillfactor=50" in cursor.fetchone()[0]
