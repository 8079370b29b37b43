"""Login throttling: it slows an attacker without locking the owner out, and fails closed."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings

from tests.accounts.conftest import PASSWORD, log_in

pytestmark = pytest.mark.django_db

ATTACKER, OWNER = "203.0.113.7", "198.51.100.20"


def test_failed_logins_from_one_ip_slow_that_ip_but_not_the_owner_elsewhere(alice):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    answers = [log_in(attacker, "alice@example.com", f"guess {n}") for n in range(20)]
    assert all(a.status_code in (200, 429) for a in answers)
    assert b"Too many failed login attempts" in answers[-1].content

    # Even the right password is refused from the attacker's address for now.
    log_in(attacker, "alice@example.com")
    assert SESSION_KEY not in attacker.session

    owner = Client(REMOTE_ADDR=OWNER)
    log_in(owner, "alice@example.com")
    assert owner.session[SESSION_KEY] == str(alice.pk)


def test_guesses_at_one_account_from_one_ip_are_cut_off_before_the_per_ip_limit(alice):
    """The per-(IP, email) limit: 5 failures in 5 minutes for one address."""
    attacker = Client(REMOTE_ADDR=ATTACKER)
    answers = [log_in(attacker, "alice@example.com", f"guess {n}") for n in range(6)]
    assert b"Too many failed login attempts" not in answers[4].content
    assert b"Too many failed login attempts" in answers[5].content


UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


def test_login_is_refused_when_the_rate_limit_store_is_down(alice, caplog):
    client = Client(REMOTE_ADDR=OWNER)
    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = client.post("/account/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert b"Temporarily unavailable" in response.content
    assert SESSION_KEY not in client.session
    assert "cache unreachable" in caplog.text


def test_sign_ups_from_one_ip_are_limited_to_twenty_a_minute():
    client = Client(REMOTE_ADDR=ATTACKER)
    answers = [
        client.post("/account/signup/", {"email": f"bulk{n}@example.com", "password1": PASSWORD}).status_code
        for n in range(21)
    ]
    assert answers[:20] == [302] * 20
    assert answers[20] == 429
    elsewhere = Client(REMOTE_ADDR=OWNER).post("/account/signup/", {"email": "me@example.com", "password1": PASSWORD})
    assert elsewhere.status_code == 302
