"""The Free and Pro plans as the data migration makes them, for tests that follow a
transactional test (whose flush empties the table the migration filled)."""

from __future__ import annotations

import importlib

from django.apps import apps

PLANS_MIGRATION = importlib.import_module("apps.accounts.migrations.0004_free_and_pro_plans")


def ensure_plans() -> None:
    PLANS_MIGRATION.create_plans(apps, None)
