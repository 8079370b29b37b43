"""Issue 16: schemathesis against the API's own schema, with a valid key, on every operation,
with every check it has (status codes, content types, headers, bodies against the schema,
negative data rejected, positive data accepted, auth ignored, ...): zero failures.

Data generated from the schema (valid, then invalid) goes through the site's WSGI
application in this process, on a small set of rows so the endpoints answer with data; the
token and list operations also run on a slug that exists. Bounded and deterministic: a
fixed number of examples per operation and mode, derandomized."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from apps.accounts.models import Plan
from apps.api.v1.base import MAX_RANGE_DAYS
from apps.editorial import services as editorial
from apps.editorial.models import ListEntry, TopList
from config.wsgi import application
from tests.api.conftest import new_key
from tests.api.v1.test_read_endpoints import rate
from tests.factories import (
    TODAY,
    AccrualEventFactory,
    AccrualPolicyFactory,
    ChainFactory,
    MetricSnapshotFactory,
    PriceDayFactory,
    RevenueDayFactory,
    RevenueReportFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
EXAMPLES = 25
SLUG = "hype"


@pytest.fixture
def sample(settings):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]  # schemathesis' WSGI client calls "localhost"
    chain = ChainFactory(slug="ethereum")
    tokens = [MetricSnapshotFactory(token__slug=slug).token for slug in (SLUG, "aave", "gmx")]
    for n, token in enumerate(tokens):
        chain.tokens.add(token)
        AccrualPolicyFactory(token=token)
        for back in range(3):
            day = TODAY - dt.timedelta(days=back)
            PriceDayFactory(token=token, date=day)
            RevenueDayFactory(token=token, date=day)
            rate(token, day, latest=back == 0, grade="ABC"[n])
        RevenueReportFactory(token=token)
        AccrualEventFactory(token=token)
    top_list = TopList.objects.create(slug="best", title="Best", summary="s", criteria="c")
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank, blurb=f"Why {token.slug}")
    editorial.publish(top_list=top_list, editor=None, now=None)


@pytest.fixture
def in_process():
    """The WSGI application on the test's own connection, as Django's test client runs it:
    otherwise the end of each request closes the connection the test's transaction is on."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key(db):
    plan = Plan.objects.create(
        name="Unlimited (schemathesis)",
        slug="unlimited-st",
        api_requests_per_minute=10**6,
        api_requests_per_month=10**9,
    )
    return new_key(UserFactory(plan=plan))[1]


def within_what_a_schema_can_say(query: dict) -> None:
    """Valid data as OpenAPI cannot state it, so that schema-valid means valid: a cursor is
    one this API gave out, a chain one it knows, a minimum at most its maximum, a start at
    most its end and within MAX_RANGE_DAYS of it."""
    query.pop("cursor", None)
    if "chain" in query:
        query["chain"] = "ethereum"
    for name in [name.removesuffix("_min") for name in query if name.endswith("_min")]:
        if f"{name}_max" in query and float(query[f"{name}_min"]) > float(query[f"{name}_max"]):
            query[f"{name}_min"], query[f"{name}_max"] = query[f"{name}_max"], query[f"{name}_min"]
    if "start" in query or "end" in query:
        end = dt.date.fromisoformat(query.get("end") or dt.date.today().isoformat())
        start = dt.date.fromisoformat(query.get("start") or end.isoformat())
        start = min(start, end)
        earliest = end - dt.timedelta(days=MAX_RANGE_DAYS) if end > dt.date.min + dt.timedelta(MAX_RANGE_DAYS) else end
        query["start"], query["end"] = max(start, earliest).isoformat(), str(end)


def explore(strategy, *, headers: dict, checks: list, positive: bool) -> None:
    """EXAMPLES cases of one operation in one mode, every check on each; raises on failure."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case):
        if positive and case.query:
            within_what_a_schema_can_say(case.query)
        case.call_and_validate(headers=headers, checks=checks)

    run()


def test_every_operation_passes_every_check(sample, key, in_process):
    headers = {"X-API-Key": key}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", in_process, headers=headers)
    load_all_checks()
    checks = CHECKS.get_all()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    for operation in operations:
        existing = {"slug": SLUG if "/top-lists/" not in operation.path else "best", "day": str(TODAY)}
        path_parameters = [None]
        if "{" in operation.path:
            path_parameters.append({k: v for k, v in existing.items() if "{" + k + "}" in operation.path})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for fixed in path_parameters:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed, headers=headers)

                try:
                    explore(strategy, headers=headers, checks=checks, positive=mode is GenerationMode.POSITIVE)
                except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
                    failures.append(f"{operation.label} [{mode.value}, {fixed}]: {exc}"[:1500])
    assert not failures, "\n\n".join(failures)
