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
