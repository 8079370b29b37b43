"""Fixtures for the tokens app's tests."""

from __future__ import annotations

import os

import pytest

# Tests of the locks use a Redis database of their own (env REDIS_URL_FOR_LOCK_TESTS).
LOCK_TESTS_REDIS_URL = os.environ.get("REDIS_URL_FOR_LOCK_TESTS", "redis://127.0.0.1:6379/7")


@pytest.fixture(params=["local", "redis"])
def lock_backend(request, settings):
    """Each lock backend in turn: None (process-local, no REDIS_URL) or the test Redis, which
    ``settings.REDIS_URL`` then names; the test's lock keys are deleted afterwards."""
    if request.param == "local":
        from apps.tokens import locks

        settings.REDIS_URL = ""
        yield None
        locks._local_locks.clear()
        return
    import redis

    client = redis.Redis.from_url(LOCK_TESTS_REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {LOCK_TESTS_REDIS_URL} ({type(exc).__name__})")
    settings.REDIS_URL = LOCK_TESTS_REDIS_URL
    yield LOCK_TESTS_REDIS_URL
    for key in client.scan_iter(match="accrual:lock:*"):
        client.delete(key)
    client.close()
