"""Editors' admin: who may open what, and what an editor's entry records."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from apps.tokens.models import AccrualEvent, RevenueReport, Source
from tests.factories import (
    AccrualEventFactory,
    AccrualPolicyFactory,
    ChainFactory,
    MetricSnapshotFactory,
    PriceDayFactory,
    RevenueDayFactory,
    RevenueReportFactory,
    TokenFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

EDITABLE = ["token", "chain", "accrualpolicy", "accrualevent", "revenuereport"]
READ_ONLY = ["priceday", "revenueday", "metricsnapshot", "syncrun"]


@pytest.fixture
def editors_group() -> Group:
    """The group the data migration made; made again when a transactional test flushed it."""
    if not Group.objects.filter(name="Editors").exists():
        migration = importlib.import_module("apps.tokens.migrations.0002_editors_group")
        migration.create_editors_group(apps, SimpleNamespace(connection=connection))
    return Group.objects.get(name="Editors")


@pytest.fixture
def editor(client, editors_group):
    user = UserFactory(is_staff=True)
    user.groups.add(editors_group)
    client.force_login(user)
    return user


@pytest.fixture
def data():
    chain = ChainFactory(slug="hyperliquid-l1", name="Hyperliquid L1")
    token = TokenFactory(slug="hyperliquid", name="Hyperliquid", symbol="HYPE", chains=[chain])
    MetricSnapshotFactory(token=token)
    AccrualPolicyFactory(token=token)
    AccrualEventFactory(token=token)
    RevenueReportFactory(token=token)
    PriceDayFactory(token=token)
    RevenueDayFactory(token=token)
    from apps.tokens.models import SyncRun

    SyncRun.objects.create(provider="sample", kind="markets", status="succeeded", started_at=dt.datetime.now(dt.UTC))
    return token


def test_migration_creates_the_editors_group_with_its_permissions(editors_group):
    codenames = set(editors_group.permissions.values_list("codename", flat=True))

    for model in EDITABLE:
        assert {f"add_{model}", f"change_{model}", f"view_{model}"} <= codenames
    for model in ["accrualpolicy", "accrualevent", "revenuereport"]:
        assert f"delete_{model}" in codenames
    assert "delete_token" not in codenames
    for model in READ_ONLY:
        assert f"view_{model}" in codenames
        assert f"change_{model}" not in codenames


@pytest.mark.parametrize("model", ["token", "accrualpolicy", "accrualevent", "revenuereport", "chain"])
def test_editor_can_open_changelist_and_add_form(client, editor, data, model):
    assert client.get(f"/admin/tokens/{model}/").status_code == 200
    assert client.get(f"/admin/tokens/{model}/add/").status_code == 200


@pytest.mark.parametrize("model", READ_ONLY)
def test_editor_can_view_but_not_add_daily_facts(client, editor, data, model):
    assert client.get(f"/admin/tokens/{model}/").status_code == 200
    assert client.get(f"/admin/tokens/{model}/add/").status_code == 403


@pytest.mark.parametrize("model", ["token", "accrualpolicy", "accrualevent", "revenuereport"])
def test_staff_without_the_group_cannot(client, data, model):
    client.force_login(UserFactory(is_staff=True))

    assert client.get(f"/admin/tokens/{model}/").status_code == 403
    assert client.get(f"/admin/tokens/{model}/add/").status_code == 403


def test_a_reader_is_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    response = client.get("/admin/tokens/token/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", EDITABLE + READ_ONLY)
def test_changelists_and_change_forms_render_with_data(admin_client, data, model):
    response = admin_client.get(f"/admin/tokens/{model}/")

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    first = response.context["cl"].result_list[0]
    assert admin_client.get(f"/admin/tokens/{model}/{first.pk}/change/").status_code == 200


def test_token_changelist_searches_and_filters(admin_client, data):
    TokenFactory(slug="aave", name="Aave", symbol="AAVE")

    by_symbol = admin_client.get("/admin/tokens/token/", {"q": "hype"})
    by_chain = admin_client.get("/admin/tokens/token/", {"chains__id__exact": data.chains.get().pk})

    assert [t.slug for t in by_symbol.context["cl"].result_list] == ["hyperliquid"]
    assert [t.slug for t in by_chain.context["cl"].result_list] == ["hyperliquid"]


def test_token_autocomplete_for_editors(client, editor, data):
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "tokens", "model_name": "accrualevent", "field_name": "token", "term": "hyper"},
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["text"] == "Hyperliquid (HYPE)"


def test_editor_entered_report_records_who_and_defaults_to_editor_source(client, editor, data):
    assert client.get("/admin/tokens/revenuereport/add/").context["adminform"].form.initial["source"] == Source.EDITOR

    response = client.post(
        "/admin/tokens/revenuereport/add/",
        {
            "token": data.pk,
            "period": "arr",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "revenue_usd": "5500000",
            "source": "computed",
            "source_url": "https://example.com/arr",
            "note": "ARR from the team's report",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    report = RevenueReport.objects.get(period="arr")
    assert report.entered_by == editor
    assert report.source == Source.EDITOR
    assert report.revenue_usd == Decimal("5500000")


def test_editor_entered_event_is_stamped(client, editor, data):
    response = client.post(
        "/admin/tokens/accrualevent/add/",
        {
            "token": data.pk,
            "date": "2026-11-01",
            "kind": "burn",
            "usd_amount": "1000",
            "reference": "https://example.com/tx",
            "source": "editor",
        },
    )

    assert response.status_code == 302
    event = AccrualEvent.objects.get(kind="burn")
    assert event.source == Source.EDITOR and event.fetched_at is not None


def test_editor_records_a_buy_and_burn_told_apart_from_a_burn(client, editor, data):
    form = client.get("/admin/tokens/accrualevent/add/").content.decode()
    assert '<option value="buyback-burn">Buy and burn</option>' in form
    assert "Burn: burned without being bought (a fee or treasury burn)" in form

    response = client.post(
        "/admin/tokens/accrualevent/add/",
        {"token": data.pk, "date": "2026-11-01", "kind": "buyback-burn", "usd_amount": "1000", "token_amount": "50",
         "reference": "https://example.com/tx", "source": "editor"},
    )  # fmt: skip

    assert response.status_code == 302
    assert AccrualEvent.objects.get(kind="buyback-burn").get_kind_display() == "Buy and burn"


def test_editor_can_add_a_policy_inline_on_the_token(client, editor, data):
    response = client.get(f"/admin/tokens/token/{data.pk}/change/")
    assert response.status_code == 200
    assert "accrual_policies-TOTAL_FORMS" in response.content.decode()


def test_deleting_tokens_in_bulk_retires_the_cached_screener(admin_client, django_capture_on_commit_callbacks):
    """GIVEN a cached screener order of three tokens
    WHEN an admin deletes two at once (the changelist's "delete selected", which logs them in
    bulk, without the LogEntry signal a single save sends)
    THEN the data's generation changes and the screener no longer counts them."""
    from apps.tokens import selectors

    # Without daily facts: the admin refuses to delete ingestion's rows along with a token.
    kept, *deleted = sorted(TokenFactory.create_batch(3), key=lambda t: t.slug)
    assert len(selectors.screener_list()) == 3
    generation = selectors.data_generation()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/tokens/token/",
            {"action": "delete_selected", "_selected_action": [t.pk for t in deleted], "post": "yes"},
        )

    assert response.status_code == 302
    assert selectors.data_generation() != generation
    assert [t.pk for t in selectors.screener_list()] == [kept.pk]


def test_an_editors_bulk_delete_of_events_retires_the_page_caches(
    client, editor, data, django_capture_on_commit_callbacks
):
    from apps.tokens import selectors

    events = [data.accrual_events.get(), AccrualEventFactory(token=data)]
    generation = selectors.data_generation()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/tokens/accrualevent/",
            {"action": "delete_selected", "_selected_action": [e.pk for e in events], "post": "yes"},
        )

    assert response.status_code == 302 and not AccrualEvent.objects.exists()
    assert selectors.data_generation() != generation
