"""The month quota survives a Redis flush or restart: a missing month counter is seeded from
the month's requests recorded in the database (KeyUsageDay), once, on each quota store."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Plan
from apps.api import quotas, usage
from apps.api.models import KeyUsageDay
from apps.api.quotas import quota_check
from tests.api.conftest import api_get, new_key, redis_or_skip

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
RATELIMIT = re.compile(r'"minute";r=(\d+);t=(\d+), "month";r=(\d+);t=(\d+)')
NOW = time.time() // 60 * 60 + 5  # a few seconds into a minute, so no test straddles one
TODAY = dt.datetime.fromtimestamp(NOW, dt.UTC).date()
FIRST = TODAY.replace(day=1)


@pytest.fixture(autouse=True)
def _clock_stands_still(monkeypatch):
    monkeypatch.setattr(quotas, "time", SimpleNamespace(time=lambda: NOW, monotonic=time.monotonic))


@pytest.fixture
def fifty(db):
    return Plan.objects.create(name="Fifty", slug="fifty", api_requests_per_minute=100, api_requests_per_month=50)


def _on_plan(user, plan):
    user.plan = plan
    user.save(update_fields=["plan"])


def _flush(backend: str) -> None:
    """What a Redis restart (it keeps nothing on disk) does to the quota counters."""
    if backend == "local":
        quotas.reset_local_state()
        return
    client = redis_or_skip()
    for name in client.scan_iter(f"{settings.ACCRUAL_API_QUOTA_KEY_PREFIX}:*"):
        client.delete(name)


def _month_left(decision) -> int:
    return decision.policies[1].remaining


def test_after_a_flush_the_month_resumes_from_the_requests_recorded(client, alice, fifty, quota_backend):
    """GIVEN 40 requests recorded this month on a plan of 50 a month
    WHEN the counters are flushed and requests keep coming
    THEN 10 more succeed and the 11th is a 429 whose month quota shows r=0."""
    _on_plan(alice, fifty)
    one, plaintext = new_key(alice, name="one")
    two, _ = new_key(alice, name="two")
    KeyUsageDay.objects.create(key=one, date=FIRST, requests=25)
    KeyUsageDay.objects.create(key=two, date=TODAY, requests=15)  # both keys count: the quota is the account's
    _flush(quota_backend)

    answers = [api_get(client, ME, plaintext) for _ in range(11)]

    assert [a.status_code for a in answers] == [200] * 10 + [429]
    month_left = [int(RATELIMIT.fullmatch(a["RateLimit"]).group(3)) for a in answers]
    assert month_left == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    refused = answers[10]
    assert int(refused["Retry-After"]) == int(RATELIMIT.fullmatch(refused["RateLimit"]).group(4)) > 60


def test_only_this_months_rows_of_the_account_count(alice, bob, fifty, quota_backend):
    alices, _ = new_key(alice)
    bobs, _ = new_key(bob)
    KeyUsageDay.objects.create(key=alices, date=TODAY, requests=40)
    KeyUsageDay.objects.create(key=alices, date=FIRST - dt.timedelta(days=1), requests=30)  # last month
    KeyUsageDay.objects.create(key=alices, date=TODAY + dt.timedelta(days=40), requests=30)  # not yet happened
    KeyUsageDay.objects.create(key=bobs, date=TODAY, requests=7)

    assert _month_left(quota_check(user_id=alice.pk, key_prefix=alices.prefix, plan=fifty, now=NOW)) == 9
    assert _month_left(quota_check(user_id=bob.pk, key_prefix=bobs.prefix, plan=fifty, now=NOW)) == 42


def test_a_counter_that_exists_is_never_seeded_again(alice, fifty, quota_backend, django_assert_num_queries):
    key, _ = new_key(alice)
    row = KeyUsageDay.objects.create(key=key, date=TODAY, requests=40)
    with CaptureQueriesContext(connection) as first:
        assert _month_left(quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW)) == 9
    assert [q["sql"] for q in first if "api_keyusageday" in q["sql"]] != []  # the seed, the month's first request
    # The recording raises today's row, as api.record_usage does: the counter already has it.
    row.requests = 41
    row.save()

    with django_assert_num_queries(0):
        assert _month_left(quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW)) == 8


def test_a_counter_at_the_limit_is_not_seeded_again_either(alice, fifty, quota_backend, django_assert_num_queries):
    key, _ = new_key(alice)
    KeyUsageDay.objects.create(key=key, date=TODAY, requests=50)
    assert not quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW).allowed
    with django_assert_num_queries(0):
        assert not quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW).allowed


@pytest.mark.django_db(transaction=True)
def test_two_first_requests_at_once_seed_the_counter_once(alice, fifty, quota_backend, monkeypatch):
    """GIVEN 40 requests recorded and no counter
    WHEN two requests both find the counter missing and both read the seed before either sets it
    THEN the counter is seeded once and both are counted on top of it (42, not 41)."""
    key, _ = new_key(alice)
    KeyUsageDay.objects.create(key=key, date=TODAY, requests=40)
    both_read = threading.Barrier(2, timeout=10)
    real = usage.requests_recorded

    def read_together(**kwargs):
        seed = real(**kwargs)
        both_read.wait()
        return seed

    monkeypatch.setattr(usage, "requests_recorded", read_together)
    decisions, errors = [], []

    def request():
        try:
            decisions.append(quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW))
        except Exception as exc:  # reported by the test thread, below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert errors == []
    assert sorted(_month_left(d) for d in decisions) == [8, 9]
    monkeypatch.setattr(usage, "requests_recorded", real)
    assert _month_left(quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=fifty, now=NOW)) == 7


def test_a_database_error_while_seeding_lets_the_request_through_and_logs_an_error(
    client, alice, fifty, quota_backend, caplog
):
    _on_plan(alice, fifty)
    key, plaintext = new_key(alice)
    KeyUsageDay.objects.create(key=key, date=TODAY, requests=40)
    failed = []

    def fail_the_seed(execute, sql, params, many, context):
        if "api_keyusageday" in sql and not failed:
            failed.append(sql)
            return execute("SELECT 1 / 0", (), many, context)  # a real error from the server
        return execute(sql, params, many, context)

    with caplog.at_level(logging.ERROR, logger="apps.api.quotas"), connection.execute_wrapper(fail_the_seed):
        response = api_get(client, ME, plaintext)

    assert failed and response.status_code == 200
    assert int(RATELIMIT.fullmatch(response["RateLimit"]).group(3)) == 49  # counted from 0, as before
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "apps.api.quotas"]
    assert "seeding" in logged.getMessage() and "DataError" in logged.getMessage()
    # The failure stayed in its savepoint: the request's transaction is still usable.
    assert KeyUsageDay.objects.get().requests == 40
