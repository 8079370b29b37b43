"""API keys and key authentication: RELIABILITY 1–7 and 23 (keys)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import pickle
import re
from pathlib import Path

import pytest
from django.contrib.auth import hashers
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from apps.accounts.models import Plan
from apps.api.authentication import LAST_USED_RESOLUTION, key_authenticate
from apps.api.key_cache import ENTRY_TTL, cache_keys, key_cached, key_remember
from apps.api.keys import PREFIX_RANDOM_LENGTH, SECRET_LENGTH
from apps.api.models import APIKey
from apps.api.services import api_key_revoke
from tests.accounts.test_rate_limits import UNREACHABLE_REDIS
from tests.api.conftest import api_get, new_key

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
KEY_FORMAT = re.compile(r"acr_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


def test_a_key_has_a_recognisable_prefix_and_at_least_128_random_bits(alice):
    keys = {new_key(alice, name=f"k{n}")[1] for n in range(5)}
    assert len(keys) == 5
    assert all(KEY_FORMAT.fullmatch(key) for key in keys)
    # The secret alone: 32 symbols drawn (by the secrets module) from 62.
    assert SECRET_LENGTH * math.log2(62) >= 128
    assert (SECRET_LENGTH, PREFIX_RANDOM_LENGTH) == (32, 8)


def test_the_database_holds_the_prefix_and_a_hash_never_the_key(alice):
    key, plaintext = new_key(alice)
    row = APIKey.objects.values().get(pk=key.pk)
    assert row["prefix"] == plaintext.partition(".")[0]
    assert row["hashed_key"] == "sha512$$" + hashlib.sha512(plaintext.encode()).hexdigest()
    secret = plaintext.partition(".")[2]
    assert not any(secret in str(value) for value in row.values())


def test_checking_a_key_is_one_indexed_query_then_a_cache_read_and_a_constant_time_compare(
    alice, monkeypatch, django_assert_num_queries
):
    alice.plan = Plan.objects.get(slug="free")
    alice.save(update_fields=["plan"])
    key, plaintext = new_key(alice)
    APIKey.objects.filter(pk=key.pk).update(last_used=timezone.now())  # no last_used write this time
    compares = []
    import rest_framework_api_key.crypto as crypto

    real_compare = crypto.constant_time_compare
    monkeypatch.setattr(crypto, "constant_time_compare", lambda a, b: compares.append(1) or real_compare(a, b))

    def no_password_hasher(*args, **kwargs):
        raise AssertionError("a password hasher ran on the request path")

    monkeypatch.setattr(hashers, "check_password", no_password_hasher)
    monkeypatch.setattr(crypto, "check_password", no_password_hasher)
    with django_assert_num_queries(1) as captured:
        assert key_authenticate(plaintext) == key
    assert 'WHERE ("api_apikey"."prefix" = ' in captured.captured_queries[0]["sql"]
    with django_assert_num_queries(0):  # kept in the cache, with the reader and plan
        assert key_authenticate(plaintext) == key
    assert compares == [1, 1]  # the secret is compared every time, cached or not
    constraints = connection.introspection.get_constraints(connection.cursor(), APIKey._meta.db_table)
    assert any(c["columns"] == ["prefix"] and c["unique"] for c in constraints.values())


def test_a_reader_without_a_plan_has_the_default_plan_read_once_with_the_key(alice, django_assert_num_queries):
    _, plaintext = new_key(alice)
    default = Plan.objects.get(is_default=True)
    key_authenticate(plaintext)  # fills the cache (and writes last_used)
    with django_assert_num_queries(0):
        assert key_authenticate(plaintext).plan == default


def test_a_key_cached_from_rows_read_before_a_revocation_is_not_used_after_it(alice):
    """A slow request reads the version, then the rows; the key is revoked; then the slow request
    keeps what it read. Its entry carries the old version, so the next check reads the rows."""
    key, plaintext = new_key(alice)
    prefix = key.prefix
    _, version_before = key_cached(prefix)
    stale = APIKey.objects.select_related("user", "user__plan").get(prefix=prefix)
    stale.plan = Plan.objects.get(is_default=True)
    api_key_revoke(key=key)
    key_remember(prefix, stale, version_before)
    assert key_authenticate(plaintext) is None


def test_the_cached_key_holds_no_password_hash(alice):
    key, plaintext = new_key(alice)
    key_authenticate(plaintext)
    cached = key_cached(key.prefix)[0]
    assert cached == key and "password" not in cached.user.__dict__
    assert alice.password.encode() not in pickle.dumps(cache.get_many(cache_keys(key.prefix)))


def test_a_login_keeps_the_cached_keys_and_other_changes_retire_them(alice):
    key, plaintext = new_key(alice)
    key_authenticate(plaintext)
    key_authenticate(plaintext)
    assert key_cached(key.prefix)[0] == key
    alice.last_login = timezone.now()
    alice.save(update_fields=["last_login"])
    assert key_cached(key.prefix)[0] == key
    Plan.objects.get(slug="pro").save()
    assert key_cached(key.prefix)[0] is None


def test_both_headers_are_accepted(client, alice):
    _, plaintext = new_key(alice)
    assert api_get(client, ME, plaintext).status_code == 200
    assert api_get(client, ME, plaintext, header="authorization").status_code == 200
    assert client.get(ME, headers={"Authorization": f"api-key {plaintext}"}).status_code == 200


def test_a_request_without_a_key_gets_401_with_a_problem(client):
    response = client.get(ME)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["status"] == 401 and response.json()["title"] == "Unauthorized"


def test_a_revoked_key_is_refused_on_its_very_next_request(client, alice):
    key, plaintext = new_key(alice)
    assert api_get(client, ME, plaintext).status_code == 200
    api_key_revoke(key=key)
    response = api_get(client, ME, plaintext)
    assert response.status_code == 401 and response.json()["code"] == "invalid-key"


def test_an_expired_key_is_refused_on_its_very_next_request(client, alice, monkeypatch):
    expires = timezone.now() + dt.timedelta(days=1)
    _, plaintext = new_key(alice, expires_at=expires)
    assert api_get(client, ME, plaintext).status_code == 200  # and now kept in the cache
    monkeypatch.setattr(timezone, "now", lambda: expires + dt.timedelta(seconds=1))
    assert api_get(client, ME, plaintext).status_code == 401


def test_a_deactivated_readers_key_is_refused(client, alice):
    _, plaintext = new_key(alice)
    assert api_get(client, ME, plaintext).status_code == 200  # and now kept in the cache
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert api_get(client, ME, plaintext).status_code == 401


@pytest.mark.parametrize("query", ["api_key={key}", "key={key}", "apikey={key}", "q={key}", "access_token=whatever"])
def test_a_key_in_the_query_string_is_refused_and_never_logged(client, alice, caplog, query):
    _, plaintext = new_key(alice)
    caplog.set_level(logging.DEBUG)
    response = client.get(f"{ME}?{query.format(key=plaintext)}", headers={"X-API-Key": plaintext})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "key-in-query-string"
    assert plaintext not in caplog.text and plaintext.partition(".")[2] not in caplog.text


def test_a_token_parameter_is_not_mistaken_for_a_key(client, alice):
    _, plaintext = new_key(alice)
    assert client.get(f"{ME}?token=bitcoin&q=macro_", headers={"X-API-Key": plaintext}).status_code == 200


def test_log_lines_never_show_a_key_even_runservers_request_line(alice):
    """runserver logs the request line with its query string; the console handler redacts it."""
    _, plaintext = new_key(alice)
    handler = next(
        h for h in logging.getLogger().handlers if any(f.__class__.__name__ == "RedactApiKeys" for f in h.filters)
    )
    for line in (f"GET /api/v1/me?api_key={plaintext} HTTP/1.1", f"GET /api/v1/me?x={plaintext} HTTP/1.1"):
        record = logging.LogRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s', (line, 400, 10), None)
        assert handler.filter(record)
        assert plaintext not in record.getMessage() and "[redacted]" in record.getMessage()


def test_gunicorns_access_log_leaves_out_the_query_string_and_referer():
    config: dict = {}
    exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text(), config)
    fmt = config["access_log_format"]
    assert "%(U)s" in fmt
    for atom in ("%(r)s", "%(q)s", "%(f)s", "%({"):
        assert atom not in fmt


def test_several_keys_work_at_once_so_one_can_be_rotated(client, alice):
    old, old_plaintext = new_key(alice, name="old")
    _, new_plaintext = new_key(alice, name="new")
    assert api_get(client, ME, old_plaintext).status_code == 200
    assert api_get(client, ME, new_plaintext).status_code == 200
    api_key_revoke(key=old)
    assert api_get(client, ME, old_plaintext).status_code == 401
    assert api_get(client, ME, new_plaintext).json()["key"]["name"] == "new"


def test_an_unknown_prefix_and_a_wrong_secret_get_the_same_answer(client, alice):
    _, plaintext = new_key(alice)
    prefix, _, secret = plaintext.partition(".")
    wrong_secret = f"{prefix}.{'A' * len(secret)}"
    unknown_prefix = f"acr_{'Z' * 8}.{secret}"
    answers = [api_get(client, ME, k) for k in (wrong_secret, unknown_prefix, "not-a-key", f"{plaintext}x")]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert len({(a["WWW-Authenticate"], a["Content-Type"]) for a in answers}) == 1


def test_last_used_is_written_at_most_once_per_resolution(alice, monkeypatch, django_assert_num_queries):
    key, plaintext = new_key(alice)
    assert key_authenticate(plaintext).last_used is not None
    first = APIKey.objects.get(pk=key.pk).last_used
    with django_assert_num_queries(0):  # the key from the cache, and no write
        key_authenticate(plaintext)
    assert APIKey.objects.get(pk=key.pk).last_used == first
    later = first + LAST_USED_RESOLUTION + dt.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with django_assert_num_queries(1):  # the conditional write
        key_authenticate(plaintext)
    assert APIKey.objects.get(pk=key.pk).last_used == later


def test_an_invalid_key_touches_nothing(alice):
    key, plaintext = new_key(alice)
    assert key_authenticate(plaintext[:-1] + ("a" if plaintext[-1] != "a" else "b")) is None
    assert APIKey.objects.get(pk=key.pk).last_used is None


def test_a_key_reader_or_plan_saved_while_the_cache_is_down_is_saved_and_the_outage_logged(alice, caplog):
    key, _ = new_key(alice)
    down = override_settings(CACHES=UNREACHABLE_REDIS)
    with down, caplog.at_level(logging.ERROR, logger="apps.api.key_cache"), transaction.atomic():
        api_key_revoke(key=key)
        alice.is_active = False
        alice.save(update_fields=["is_active"])
        Plan.objects.get(slug="pro").save()
    assert APIKey.objects.get(pk=key.pk).revoked and not type(alice).objects.get(pk=alice.pk).is_active
    assert "API key cache unreachable" in caplog.text
    assert ENTRY_TTL <= 60  # the bound on an entry the outage kept from being retired
