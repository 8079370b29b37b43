"""The Free and Pro plans as the data migration makes them, for tests that follow a
transactional test (whose flush empties the table the migration filled)."""

from __future__ import annotations

import importlib

from django.apps import apps

PLANS_MIGRATION = importlib.import_module("apps.accounts.migrations.0004_free_and_pro_plans")
MONTHLY_QUOTAS_MIGRATION = importlib.import_module("apps.accounts.migrations.0005_plan_api_requests_per_month")


def ensure_plans() -> None:
    PLANS_MIGRATION.create_plans(apps, None)
    MONTHLY_QUOTAS_MIGRATION.set_monthly_quotas(apps, None)
