"""Plan quotas and the RateLimit headers: RELIABILITY 9–11, on each quota store."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from types import SimpleNamespace

import pytest

from apps.accounts.models import Plan
from apps.api import quotas
from apps.api.quotas import quota_check
from apps.api.usage import usage_counts
from tests.api.conftest import api_get, new_key

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
POLICY = re.compile(r'"minute";q=(\d+);w=60, "month";q=(\d+);w=(\d+)')
RATELIMIT = re.compile(r'"minute";r=(\d+);t=(\d+), "month";r=(\d+);t=(\d+)')


@pytest.fixture(autouse=True)
def _mid_minute(monkeypatch):
    """The clock stands still a few seconds into a minute, so no test straddles a window."""
    now = time.time() // 60 * 60 + 5
    monkeypatch.setattr(quotas, "time", SimpleNamespace(time=lambda: now, monotonic=time.monotonic))


@pytest.fixture
def tiny(db):
    return Plan.objects.create(name="Tiny", slug="tiny", api_requests_per_minute=3, api_requests_per_month=1000)


def _on_plan(user, plan):
    user.plan = plan
    user.save(update_fields=["plan"])


def test_beyond_the_minute_limit_a_429_carries_retry_after_and_matching_headers(client, alice, tiny, quota_backend):
    _on_plan(alice, tiny)
    _, plaintext = new_key(alice)
    answers = [api_get(client, ME, plaintext) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for n, answer in enumerate(answers[:3]):
        minute_left, minute_reset, month_left, month_reset = map(int, RATELIMIT.fullmatch(answer["RateLimit"]).groups())
        assert (minute_left, month_left) == (2 - n, 999 - n)
        assert 1 <= minute_reset <= 60 and month_reset >= 1
    refused = answers[3]
    assert POLICY.fullmatch(refused["RateLimit-Policy"]).groups()[:2] == ("3", "1000")
    assert int(POLICY.fullmatch(refused["RateLimit-Policy"]).group(3)) in {d * 86400 for d in (28, 29, 30, 31)}
    minute_left, minute_reset, month_left, _ = map(int, RATELIMIT.fullmatch(refused["RateLimit"]).groups())
    assert (minute_left, month_left) == (0, 997)
    assert refused["Retry-After"].isdigit() and int(refused["Retry-After"]) == minute_reset >= 1
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json() | {"detail": None} == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "code": "throttled",
        "detail": None,
    }


def test_the_month_quota_refuses_until_the_month_ends(alice, tiny, quota_backend):
    tiny.api_requests_per_month = 2
    start = dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC).timestamp()
    decisions = [quota_check(user_id=alice.pk, key_prefix="acr_x", plan=tiny, now=start + 61 * n) for n in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].retry_after == 3600 - 122
    january = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC).timestamp()
    assert quota_check(user_id=alice.pk, key_prefix="acr_x", plan=tiny, now=january).allowed


def test_refused_requests_are_not_counted(alice, tiny, quota_backend):
    now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC).timestamp()
    for _ in range(10):
        quota_check(user_id=alice.pk, key_prefix="acr_x", plan=tiny, now=now)
    next_minute = quota_check(user_id=alice.pk, key_prefix="acr_x", plan=tiny, now=now + 60)
    assert next_minute.allowed
    assert next_minute.policies[1].remaining == 1000 - 4


def test_quotas_are_per_account_not_per_key_or_ip(alice, bob, tiny, quota_backend):
    from django.test import Client

    _on_plan(alice, tiny)
    _on_plan(bob, tiny)
    _, first = new_key(alice, name="one")
    _, second = new_key(alice, name="two")
    _, bobs = new_key(bob)
    codes = [api_get(Client(REMOTE_ADDR=f"203.0.113.{n}"), ME, (first, second)[n % 2]).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api_get(Client(), ME, bobs).status_code == 200


def test_a_plan_change_applies_on_the_next_request(client, alice, tiny, quota_backend):
    _on_plan(alice, tiny)
    _, plaintext = new_key(alice)
    assert [api_get(client, ME, plaintext).status_code for _ in range(4)][-1] == 429

    _on_plan(alice, Plan.objects.get(slug="pro"))

    response = api_get(client, ME, plaintext)
    assert response.status_code == 200
    assert POLICY.fullmatch(response["RateLimit-Policy"]).groups()[:2] == ("300", "1500000")
    assert response.json()["plan"]["slug"] == "pro"


def test_when_redis_is_down_the_api_fails_open_and_logs_an_error(client, alice, tiny, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    _on_plan(alice, tiny)
    _, plaintext = new_key(alice)
    with caplog.at_level(logging.ERROR, logger="apps.api.quotas"):
        answers = [api_get(client, ME, plaintext) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert "RateLimit" not in answers[0] and POLICY.fullmatch(answers[0]["RateLimit-Policy"])
    assert any(r.levelno == logging.ERROR and "failing open" in r.getMessage() for r in caplog.records)
    # The usage page fails open too: no counts rather than an error.
    assert api_get(client, "/api/v1/me/usage", plaintext).status_code == 200


def test_usage_is_counted_per_key_per_day(client, alice, quota_backend):
    _, first_plaintext = new_key(alice, name="one")
    _, second_plaintext = new_key(alice, name="two")
    for plaintext in (first_plaintext, first_plaintext, second_plaintext):
        api_get(client, ME, plaintext)

    days = api_get(client, "/api/v1/me/usage?days=3", first_plaintext).json()["days"]

    assert len(days) == 3
    # The usage request itself counts too.
    assert days[0]["requests"] == 4
    assert {k["name"]: k["requests"] for k in days[0]["keys"]} == {"one": 3, "two": 1}
    assert days[1]["requests"] == 0 and days[1]["keys"] == []
    assert usage_counts(user_id=alice.pk, days=[]) == {}
