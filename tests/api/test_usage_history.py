"""Per-key usage kept in the database: recorded from each quota store, never lowered, shown
after a Redis flush and beyond the 35 days Redis keeps, read with flat query counts."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.accounts.selectors import plan_for
from apps.api import quotas
from apps.api.models import KeyUsageDay
from apps.api.quotas import UsageUnreadable, quota_check
from apps.api.selectors import api_usage_by_day
from apps.api.tasks import record_usage
from apps.api.usage import usage_record
from tests.api.conftest import api_get, new_key, redis_or_skip

pytestmark = pytest.mark.django_db

ME, USAGE = "/api/v1/me", "/api/v1/me/usage"


def _today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def _noon(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()


def _recorded(day: dt.date) -> dict[str, int]:
    return dict(KeyUsageDay.objects.filter(date=day).values_list("key__prefix", "requests"))


def _flush_usage(backend: str) -> None:
    """What a Redis restart (it keeps nothing on disk) does to the usage counters."""
    if backend == "local":
        quotas.reset_local_state()
        return
    client = redis_or_skip()
    for name in client.scan_iter(f"{settings.ACCRUAL_API_QUOTA_KEY_PREFIX}:*:usage:*"):
        client.delete(name)


def test_recording_copies_each_keys_count_of_the_day(alice, bob, quota_backend):
    one, one_plaintext = new_key(alice, name="one")
    two, two_plaintext = new_key(alice, name="two")
    bobs, bob_plaintext = new_key(bob)
    for plaintext in (one_plaintext, one_plaintext, two_plaintext, bob_plaintext):
        assert api_get(Client(), ME, plaintext).status_code == 200
    yesterday = _today() - dt.timedelta(days=1)
    quota_check(user_id=alice.pk, key_prefix=one.prefix, plan=plan_for(alice), now=_noon(yesterday))

    result = usage_record(day=_today())

    assert (result.keys, result.raised, result.unknown_prefixes) == (3, 3, 0)
    assert _recorded(_today()) == {one.prefix: 2, two.prefix: 1, bobs.prefix: 1}
    assert _recorded(yesterday) == {}
    usage_record(day=yesterday)
    assert _recorded(yesterday) == {one.prefix: 1}


def test_recording_twice_changes_nothing_and_a_flush_never_lowers_a_recorded_day(alice, quota_backend):
    key, plaintext = new_key(alice)
    for _ in range(3):
        api_get(Client(), ME, plaintext)
    usage_record(day=_today())

    again = usage_record(day=_today())
    assert (again.keys, again.raised) == (1, 0)
    assert _recorded(_today()) == {key.prefix: 3}

    _flush_usage(quota_backend)
    api_get(Client(), ME, plaintext)
    assert usage_record(day=_today()).raised == 0
    assert _recorded(_today()) == {key.prefix: 3}

    for _ in range(3):
        api_get(Client(), ME, plaintext)
    assert usage_record(day=_today()).raised == 1
    assert _recorded(_today()) == {key.prefix: 4}


def test_after_a_flush_recorded_days_still_show_on_the_api_and_the_account_page(client, alice, quota_backend):
    key, plaintext = new_key(alice, name="one")
    _, other_plaintext = new_key(alice, name="two")
    for _ in range(3):
        api_get(Client(), ME, plaintext)
    yesterday = _today() - dt.timedelta(days=1)
    for _ in range(2):
        quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=plan_for(alice), now=_noon(yesterday))
    usage_record(day=_today())
    usage_record(day=yesterday)

    _flush_usage(quota_backend)

    days = api_get(Client(), f"{USAGE}?days=3", other_plaintext).json()["days"]
    assert {k["name"]: k["requests"] for k in days[0]["keys"]} == {"one": 3, "two": 1}  # "two": this request
    assert (days[1]["date"], days[1]["requests"]) == (yesterday.isoformat(), 2)
    client.force_login(alice)
    html = client.get("/account/").content.decode()
    assert f'data-usage-day="{yesterday.isoformat()}">2<' in html
    assert f"<code>{key.prefix}</code> 3" in html


def test_a_day_60_days_ago_shows_from_the_database_within_90_days(alice, quota_backend):
    key, plaintext = new_key(alice)
    old = _today() - dt.timedelta(days=60)
    KeyUsageDay.objects.create(key=key, date=old, requests=7)

    days = api_get(Client(), f"{USAGE}?days=90", plaintext).json()["days"]

    assert len(days) == 90
    assert days[60] == {
        "date": old.isoformat(),
        "requests": 7,
        "keys": [{"prefix": key.prefix, "name": "laptop", "requests": 7}],
    }
    assert all(
        day["date"] != old.isoformat() for day in api_get(Client(), f"{USAGE}?days=60", plaintext).json()["days"]
    )


@pytest.mark.parametrize("days", ["91", "0", "-1", "many"])
def test_days_out_of_1_to_90_is_a_400_problem(alice, days):
    _, plaintext = new_key(alice)
    response = api_get(Client(), f"{USAGE}?days={days}", plaintext)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 400


def test_prefixes_of_no_key_or_of_another_account_are_skipped(alice, bob, quota_backend):
    key, _ = new_key(alice)
    bobs, _ = new_key(bob)
    plan = plan_for(alice)
    for prefix in (key.prefix, "acr_gone0000", bobs.prefix):
        quota_check(user_id=alice.pk, key_prefix=prefix, plan=plan)

    result = usage_record(day=_today())

    assert (result.keys, result.unknown_prefixes) == (1, 2)
    assert _recorded(_today()) == {key.prefix: 1}


def test_only_this_namespaces_usage_hashes_are_recorded(alice, redis_namespace):
    key, _ = new_key(alice)
    client = redis_or_skip()
    # A hash of another deployment whose key prefix begins with this one's.
    client.hset(f"{redis_namespace}:other:{alice.pk}:usage:{_today().isoformat()}", key.prefix, 5)
    assert usage_record(day=_today()).keys == 0
    assert not KeyUsageDay.objects.exists()


def test_recording_when_redis_is_down_raises_for_a_retry(alice, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(UsageUnreadable):
        usage_record(day=_today())


def test_the_task_records_today_and_yesterday_and_logs_a_summary(alice, quota_backend, caplog):
    key, plaintext = new_key(alice)
    api_get(Client(), ME, plaintext)
    yesterday = _today() - dt.timedelta(days=1)
    quota_check(user_id=alice.pk, key_prefix=key.prefix, plan=plan_for(alice), now=_noon(yesterday))

    with caplog.at_level(logging.INFO, logger="apps.api.tasks"):
        result = record_usage.apply().get()

    assert _recorded(_today()) == {key.prefix: 1} and _recorded(yesterday) == {key.prefix: 1}
    assert result[_today().isoformat()] == {"keys": 1, "raised": 1, "unknown": 0}
    [summary] = [r.getMessage() for r in caplog.records if r.name == "apps.api.tasks"]
    assert summary.startswith("API usage recorded: ") and "1 keys, 1 rows raised, 0 unknown prefixes" in summary
    assert "api.record_usage" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


@pytest.mark.parametrize("keys", [1, 5])
def test_reading_usage_costs_the_same_queries_for_one_key_or_five(
    alice, quota_backend, keys, django_assert_num_queries
):
    made = [new_key(alice, name=f"k{n}") for n in range(keys)]
    for key, plaintext in made:
        api_get(Client(), ME, plaintext)
        KeyUsageDay.objects.bulk_create(
            KeyUsageDay(key=key, date=_today() - dt.timedelta(days=n), requests=n) for n in range(1, 80)
        )

    with django_assert_num_queries(2):  # the recorded days, the keys' names
        days = api_usage_by_day(user=alice, days=90)

    assert days[0].requests == keys and days[79].requests == 79 * keys
    # The keys of the batch, then the upsert in its transaction (a savepoint here).
    with django_assert_num_queries(4):
        assert usage_record(day=_today()).keys == keys


def test_when_redis_is_down_the_recorded_days_still_show(alice, settings):
    key, plaintext = new_key(alice)
    KeyUsageDay.objects.create(key=key, date=_today(), requests=9)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    days = api_get(Client(), f"{USAGE}?days=2", plaintext).json()["days"]

    assert [day["requests"] for day in days] == [9, 0]


def test_staff_read_the_recorded_days_in_the_admin_and_cannot_change_them(admin_client, alice):
    key, _ = new_key(alice, name="laptop")
    day = KeyUsageDay.objects.create(key=key, date=dt.date(2026, 11, 1), requests=1234)
    listing = admin_client.get("/admin/api/keyusageday/", {"q": "alice@"})
    assert listing.status_code == 200 and "1234" in listing.content.decode()
    assert admin_client.get(f"/admin/api/keyusageday/{day.pk}/change/").status_code == 200  # a read-only view
    assert admin_client.post(f"/admin/api/keyusageday/{day.pk}/change/", {"requests": 1}).status_code == 403
    assert admin_client.get("/admin/api/keyusageday/add/").status_code == 403
    assert KeyUsageDay.objects.get(pk=day.pk).requests == 1234
