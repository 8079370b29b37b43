"""Fixtures for the API: readers with plans, their keys, and each quota backend in turn
(this process, or the test Redis under a key namespace of the test's own)."""

from __future__ import annotations

import os
import uuid

import pytest

from apps.api import quotas
from apps.api.authentication import forget_touches
from apps.api.services import api_key_create
from tests.accounts.conftest import make_reader
from tests.support.plans import ensure_plans

REDIS_URL_FOR_TESTS = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/11")


@pytest.fixture(autouse=True)
def _plans_and_fresh_counters(request):
    quotas.reset_local_state()
    forget_touches()
    if "django_db" in request.keywords or "db" in request.fixturenames:
        request.getfixturevalue("db")
        ensure_plans()
    yield
    quotas.reset_local_state()


@pytest.fixture
def alice(db):
    return make_reader("alice@example.com")


@pytest.fixture
def bob(db):
    return make_reader("bob@example.com")


def new_key(user, name: str = "laptop", **kwargs):
    """(APIKey, plaintext)."""
    kwargs.setdefault("scopes", ["read"])
    return api_key_create(user=user, name=name, **kwargs)


def api_get(client, path: str, key: str | None, header: str = "x-api-key", **extra):
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Api-Key {key}"} if header == "authorization" else {"X-API-Key": key}
    return client.get(path, headers=headers, **extra)


def redis_or_skip(url: str = REDIS_URL_FOR_TESTS):
    """A client for the test Redis; skipped when it is down, a failure on CI (started first)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"Redis not reachable at {url} ({type(exc).__name__})")
    return client


@pytest.fixture
def redis_namespace(settings):
    """Quotas on the test Redis, under keys of this test's own (deleted afterwards)."""
    client = redis_or_skip()
    prefix = f"test-api:{uuid.uuid4().hex[:12]}"
    settings.REDIS_URL = REDIS_URL_FOR_TESTS
    settings.ACCRUAL_API_QUOTA_KEY_PREFIX = prefix
    yield prefix
    for name in client.scan_iter(f"{prefix}:*"):
        client.delete(name)


@pytest.fixture(params=["local", "redis"])
def quota_backend(request, settings):
    """Each quota store in turn: this process (no REDIS_URL), then Redis."""
    if request.param == "local":
        settings.REDIS_URL = ""
        return "local"
    request.getfixturevalue("redis_namespace")
    return "redis"
