"""Data migrations, run on the current models: their logic, not Django's machinery."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from apps.tokens.models import RevenueReport, Source, SyncRun
from tests.factories import AS_OF, RevenueReportFactory, TokenFactory, UserFactory

pytestmark = pytest.mark.django_db

generated = importlib.import_module("apps.tokens.migrations.0009_sample_reports_are_generated")


def run_migration() -> None:
    generated.sample_reports_are_generated(apps, SimpleNamespace(connection=connection))


def test_catalogue_reports_of_a_sample_database_become_generated():
    SyncRun.objects.create(provider=Source.SAMPLE, kind="sample-load", started_at=AS_OF)
    token = TokenFactory()
    loaded = RevenueReportFactory(token=token, source=Source.EDITOR, source_url="https://defillama.com/protocol/x")
    typed = RevenueReportFactory(
        token=token, source=Source.EDITOR, source_url="https://example.com/q3", entered_by=UserFactory()
    )

    run_migration()

    loaded.refresh_from_db()
    typed.refresh_from_db()
    assert (loaded.source, loaded.source_url) == (Source.SAMPLE, "")
    assert (typed.source, typed.source_url) == (Source.EDITOR, "https://example.com/q3")


def test_a_live_database_keeps_its_editor_reports():
    report = RevenueReportFactory(source=Source.EDITOR, source_url="https://example.com/arr")

    run_migration()

    assert RevenueReport.objects.get(pk=report.pk).source == Source.EDITOR
