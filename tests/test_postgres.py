"""PostgreSQL storage settings the refresh relies on."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL storage settings")


def test_token_pages_keep_room_for_the_refreshs_rewrite_in_place():
    """Migration 0004: a market refresh rewrites every quoted token (its supplies and its
    latest-snapshot pointer, in one UPDATE); with room left on its page the rewrite is HOT
    and adds no entry to any of the table's indexes (bench/README.md)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'tokens_token'")
        assert "fillfactor=50" in cursor.fetchone()[0]
