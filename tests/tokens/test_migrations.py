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


def test_tokens_already_holding_history_count_as_backfilled():
    """An upgraded deployment is not backfilled all over again: a token with prices or revenue
    stored gets its fetch time from them; one with none stays due for its backfill."""
    before, after = [("tokens", "0012_universe_category_locked")], [("tokens", "0013_refresh_history_state")]
    old = _migrate(before)
    try:
        tokens = old.get_model("tokens", "Token").objects
        priced = tokens.create(slug="priced", symbol="P", name="Priced", coingecko_id="priced")
        earning = tokens.create(slug="earning", symbol="E", name="Earning", defillama_slug="earning")
        tokens.create(slug="new", symbol="N", name="New", coingecko_id="new", defillama_slug="new")
        fetched = [dt.datetime(2026, 11, day, tzinfo=dt.UTC) for day in (1, 2)]
        for at in fetched:
            old.get_model("tokens", "PriceDay").objects.create(
                token=priced, date=at.date(), price_usd=1, observed_at=at, source="coingecko", fetched_at=at
            )
        old.get_model("tokens", "RevenueDay").objects.create(
            token=earning, date=fetched[0].date(), fees_usd=1, source="defillama", fetched_at=fetched[0]
        )

        new = _migrate(after)

        state = {
            slug: (price_at, revenue_at)
            for slug, price_at, revenue_at in new.get_model("tokens", "Token").objects.values_list(
                "slug", "price_history_at", "revenue_history_at"
            )
        }
        assert state == {"priced": (fetched[1], None), "earning": (None, fetched[0]), "new": (None, None)}
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
