"""Data migrations, run forwards and backwards on the test database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("tokens", "0007_sync_run_brin")]
AFTER = [("tokens", "0008_accrual_event_buy_and_burn")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_samples_burns_become_buy_and_burns_and_an_editors_burn_stays():
    """Reloading the regenerated sample then updates these rows rather than adding copies."""
    old = _migrate(BEFORE)
    try:
        token = old.get_model("tokens", "Token").objects.create(slug="geodnet", symbol="GEOD", name="GEODNET")
        event = old.get_model("tokens", "AccrualEvent").objects
        now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        common = {"token": token, "date": dt.date(2026, 11, 1), "kind": "burn", "fetched_at": now}
        event.create(**common, reference="sample:geodnet:burn:2026-11-01", source="sample", usd_amount=1)
        event.create(**common, reference="0xfee", source="editor", token_amount=5)

        new = _migrate(AFTER)

        rows = set(new.get_model("tokens", "AccrualEvent").objects.values_list("kind", "reference", "source"))
        assert rows == {
            ("buyback-burn", "sample:geodnet:buyback-burn:2026-11-01", "sample"),
            ("burn", "0xfee", "editor"),
        }
        _migrate(BEFORE)
        rows = set(old.get_model("tokens", "AccrualEvent").objects.values_list("kind", "reference"))
        assert rows == {("burn", "sample:geodnet:burn:2026-11-01"), ("burn", "0xfee")}
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
