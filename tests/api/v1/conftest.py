"""The client the read endpoints' tests call the API with: a reader's key, on a plan whose
quotas these tests never reach (the quotas have tests of their own, tests/api/test_quotas.py)."""

import pytest
from django.test import Client

from apps.accounts.models import Plan
from tests.api.conftest import new_key
from tests.factories import UserFactory


@pytest.fixture
def api(db):
    plan = Plan.objects.create(
        name="Unlimited (tests)", slug="unlimited-tests", api_requests_per_minute=10**6, api_requests_per_month=10**9
    )
    _, plaintext = new_key(UserFactory(plan=plan))
    return Client(HTTP_X_API_KEY=plaintext)


@pytest.fixture
def reader(db):
    """A reader on a small plan (2 lists of 2 tokens, 2 alert rules) whose API quotas these tests never reach."""
    plan = Plan.objects.create(
        name="Small (tests)",
        slug="small-tests",
        api_requests_per_minute=10**6,
        api_requests_per_month=10**9,
        max_watchlists=2,
        max_tokens_per_watchlist=2,
        max_alert_rules=2,
        how_to_upgrade="Ask us for Pro.",
    )
    return UserFactory(plan=plan)


def key_client(user, *scopes: str) -> Client:
    _, plaintext = new_key(user, name=" ".join(scopes), scopes=list(scopes))
    return Client(HTTP_X_API_KEY=plaintext)


@pytest.fixture
def writer(reader):
    """The reader's key that may write watchlists and alert rules."""
    return key_client(reader, "read", "watchlists:write")


@pytest.fixture
def read_only(reader):
    return key_client(reader, "read")


@pytest.fixture
def outsider(reader):
    """Another reader's writing key, on the same plan."""
    return key_client(UserFactory(plan=reader.plan), "read", "watchlists:write")
