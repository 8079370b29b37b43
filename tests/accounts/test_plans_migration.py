"""The plans' data migration, run backwards and forwards on the test database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0003_plans")]
AFTER = [("accounts", "0004_free_and_pro_plans")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def limits(plan) -> tuple[int, ...]:
    return (
        plan.max_watchlists,
        plan.max_tokens_per_watchlist,
        plan.max_alert_rules,
        plan.max_webhooks,
        plan.api_requests_per_minute,
        plan.api_requests_per_day,
    )


def test_the_migration_makes_free_the_default_and_pro_and_going_back_removes_them():
    try:
        before = _migrate(BEFORE)
        assert not before.get_model("accounts", "Plan").objects.exists()

        after = _migrate(AFTER)

        plans = after.get_model("accounts", "Plan").objects.order_by("max_watchlists")
        assert [(p.slug, p.is_default, *limits(p)) for p in plans] == [
            ("free", True, 3, 50, 10, 0, 30, 1_000),
            ("pro", False, 20, 200, 200, 5, 300, 50_000),
        ]
        assert "hello@accrual.invalid" in plans[0].how_to_upgrade
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_going_back_keeps_a_plan_that_readers_hold():
    try:
        after = _migrate(AFTER)
        pro = after.get_model("accounts", "Plan").objects.get(slug="pro")
        after.get_model("accounts", "User").objects.create(email="reader@example.com", plan=pro)

        before = _migrate(BEFORE)

        assert list(before.get_model("accounts", "Plan").objects.values_list("slug", flat=True)) == ["pro"]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
