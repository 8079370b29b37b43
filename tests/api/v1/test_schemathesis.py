"""Schemathesis against the schema's personal and briefing endpoints, with a writing key:
whatever it sends that the schema allows, the API never answers 5xx."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from apps.briefings.models import Briefing
from apps.watchlists.models import AlertKind, AlertRule, Watchlist
from tests.api.conftest import new_key
from tests.factories import AS_OF, TODAY, TokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    from config.wsgi import application

    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = application
    # As Django's test client does: the app's end of request must not close the test's connection.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schema.include(path_regex="^/api/v1/(watchlists|alert-rules|briefings)/")
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def writer_key(reader):
    TokenFactory(slug="hype")
    Briefing.objects.create(date=TODAY, status=Briefing.Status.SENT, sections={"summary": "x"}, built_at=AS_OF)
    return new_key(reader, name="fuzz", scopes=["read", "watchlists:write"])[1]


def aim_at_real_rows(case, reader) -> None:
    """Path parameters that name the reader's own rows (made again after a DELETE), so the
    generated bodies reach the services rather than a 404."""
    watchlist = Watchlist.objects.filter(user=reader).first() or Watchlist.objects.create(
        user=reader, name="Mine", is_default=True
    )
    rule = AlertRule.objects.filter(user=reader).first() or AlertRule.objects.create(
        user=reader, watchlist=watchlist, kind=AlertKind.PRICE_MOVE, threshold=5
    )
    params = case.path_parameters or {}
    if "id" in params:
        params["id"] = watchlist.pk if "/watchlists/" in case.path else rule.pk
    if "slug" in params:
        params["slug"] = "hype"
    if "day" in params:
        params["day"] = str(TODAY)


def test_no_request_the_schema_allows_makes_a_500(api_schema, writer_key, reader):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 14

    for operation in operations:

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def call(case):
            aim_at_real_rows(case, reader)
            case.call_and_validate(headers={"X-API-Key": writer_key}, checks=[not_a_server_error])

        call()
