"""Keys on the account page: created by HTMX with the plaintext shown once (RELIABILITY 1),
listed, revoked; another reader's key is a 404 (RELIABILITY 23)."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client

from apps.api.models import APIKey
from apps.api.services import MAX_ACTIVE_KEYS
from tests.api.conftest import api_get, new_key

pytestmark = pytest.mark.django_db

PLAINTEXT = re.compile(r"acr_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_creating_a_key_shows_its_plaintext_once_and_never_again(alice_client, alice, admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = alice_client.post(
        "/account/api-keys/new/", {"name": "laptop", "write_watchlists": "on", "expires_in": "30"}, headers=HTMX
    )

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "<html" not in html  # the fragment only
    [plaintext] = PLAINTEXT.findall(html)
    key = APIKey.objects.get(user=alice)
    assert (key.name, key.scope_list, key.expiry_date is not None) == ("laptop", ["read", "watchlists:write"], True)
    assert api_get(Client(), "/api/v1/me", plaintext).status_code == 200

    secret = plaintext.partition(".")[2]
    later = [
        alice_client.get("/account/"),
        alice_client.get("/account/api-keys/"),
        alice_client.get("/account/api-keys/", headers=HTMX),
        admin_client.get("/admin/api/apikey/"),
        admin_client.get(f"/admin/api/apikey/{key.pk}/change/"),
    ]
    for page in later:
        assert page.status_code == 200
        assert secret not in page.content.decode()
    assert key.prefix in later[0].content.decode() and key.prefix in later[3].content.decode()
    assert secret not in caplog.text


def test_a_key_needs_a_name_and_nothing_is_created_without_one(alice_client, alice):
    response = alice_client.post("/account/api-keys/new/", {"name": "", "expires_in": "7"}, headers=HTMX)
    assert response.status_code == 422
    assert not APIKey.objects.exists()
    assert not PLAINTEXT.search(response.content.decode())


def test_the_number_of_active_keys_is_capped(alice_client, alice):
    for n in range(MAX_ACTIVE_KEYS):
        new_key(alice, name=f"k{n}")
    response = alice_client.post("/account/api-keys/new/", {"name": "one more"})
    assert response.status_code == 422 and b"revoke one" in response.content
    assert APIKey.objects.filter(user=alice).count() == MAX_ACTIVE_KEYS


def test_revoking_asks_first_then_refuses_the_key(alice_client, alice):
    key, plaintext = new_key(alice)
    confirm = alice_client.get(f"/account/api-keys/{key.prefix}/revoke/")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert not APIKey.objects.get(pk=key.pk).revoked

    response = alice_client.post(f"/account/api-keys/{key.prefix}/revoke/", headers=HTMX)

    assert response.status_code == 200 and b"Revoked" in response.content
    assert APIKey.objects.get(pk=key.pk).revoked
    assert api_get(Client(), "/api/v1/me", plaintext).status_code == 401


def test_the_revoke_button_is_an_htmx_post_with_a_confirmation(alice_client, alice):
    key, _ = new_key(alice)
    html = alice_client.get("/account/").content.decode()
    assert f'hx-post="/account/api-keys/{key.prefix}/revoke/"' in html and "hx-confirm=" in html


def test_another_readers_key_is_a_404_on_every_page(client, alice, bob):
    key, _ = new_key(bob)
    client.force_login(alice)
    assert client.get(f"/account/api-keys/{key.prefix}/revoke/").status_code == 404
    assert client.post(f"/account/api-keys/{key.prefix}/revoke/").status_code == 404
    assert not APIKey.objects.get(pk=key.pk).revoked
    assert key.prefix not in client.get("/account/").content.decode()


def test_through_the_api_a_reader_sees_only_their_own_keys_and_usage(alice, bob):
    alices, alice_plaintext = new_key(alice, name="alice's")
    bobs, bob_plaintext = new_key(bob, name="bob's")
    api_get(Client(), "/api/v1/me", bob_plaintext)
    me = api_get(Client(), "/api/v1/me", alice_plaintext).json()
    assert me["email"] == "alice@example.com" and me["key"]["prefix"] == alices.prefix
    usage = api_get(Client(), "/api/v1/me/usage", alice_plaintext).content.decode()
    assert alices.prefix in usage and bobs.prefix not in usage


def test_key_pages_need_a_login(client, alice):
    key, _ = new_key(alice)
    assert client.get("/account/api-keys/").status_code == 302
    assert client.post("/account/api-keys/new/", {"name": "x"}).status_code == 302
    assert client.post(f"/account/api-keys/{key.prefix}/revoke/").status_code == 302
    assert not APIKey.objects.get(pk=key.pk).revoked


def test_the_account_page_shows_the_keys_usage_per_day(alice_client, alice):
    key, plaintext = new_key(alice)
    for _ in range(3):
        api_get(Client(), "/api/v1/me", plaintext)
    html = alice_client.get("/account/").content.decode()
    assert re.search(r'data-usage-day="\d{4}-\d\d-\d\d">3<', html)
    assert f"<code>{key.prefix}</code> 3" in html


def test_an_htmx_post_without_the_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/account/api-keys/new/", {"name": "x"}, headers=HTMX).status_code == 403
    assert not APIKey.objects.exists()


def test_the_keys_section_and_the_usage_cost_the_same_queries_for_one_key_or_many(alice_client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(path: str, client) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    _, plaintext = new_key(alice, name="k0")
    api = Client(HTTP_X_API_KEY=plaintext)
    # The first of each fills the site's cache and writes the key's last_used.
    queries("/account/api-keys/", alice_client)
    queries("/api/v1/me/usage", api)
    few = (queries("/account/api-keys/", alice_client), queries("/api/v1/me/usage", api))
    for n in range(1, 6):
        _, other = new_key(alice, name=f"k{n}")
        api_get(Client(), "/api/v1/me", other)
    queries("/api/v1/me/usage", api)  # the new keys retired the cached ones: read once again
    many = (queries("/account/api-keys/", alice_client), queries("/api/v1/me/usage", api))
    assert few == many
