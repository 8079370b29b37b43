"""Account pages keep the strict CSP: every executed script carries the nonce, no inline styles."""

import re

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from tests.accounts.conftest import PASSWORD, log_in

pytestmark = pytest.mark.django_db


def assert_strict_csp(response) -> None:
    policy = dict(part.strip().partition(" ")[::2] for part in response["Content-Security-Policy"].split(";"))
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"]).group(1)
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        if 'type="application/json"' in tag:  # data blocks are not executed
            continue
        assert f'nonce="{nonce}"' in tag, tag
    assert " style=" not in html and "<style" not in html


@pytest.mark.parametrize("url", ["/account/login/", "/account/signup/", "/account/password/reset/"])
def test_entrance_pages_keep_the_strict_csp(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert_strict_csp(response)


def test_management_pages_keep_the_strict_csp(client, alice):
    TOTP.activate(alice, generate_totp_secret())
    RecoveryCodes.activate(alice)
    client.force_login(alice)
    client.post("/account/reauthenticate/", {"password": PASSWORD})
    client.post("/account/email/", {"action_add": "", "email": "pending@example.com"})  # a pending change
    for url in (
        "/account/",
        "/account/email/",
        "/account/password/change/",
        "/account/2fa/",
        "/account/2fa/recovery-codes/",
        "/account/2fa/totp/deactivate/",
        "/account/delete/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_csp(response)
    assert b"pending@example.com" in client.get("/account/email/").content


def test_the_totp_activation_page_keeps_the_strict_csp(client, alice):
    log_in(client, "alice@example.com")
    client.post("/account/reauthenticate/", {"password": PASSWORD})
    response = client.get("/account/2fa/totp/activate/")
    assert response.status_code == 200 and b"data:image/svg+xml" in response.content
    assert_strict_csp(response)
