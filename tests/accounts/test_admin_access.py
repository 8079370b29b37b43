"""The admin: its login is the accounts login; with ACCRUAL_ADMIN_REQUIRES_2FA staff need TOTP."""

import secrets

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth import SESSION_KEY
from django.test import override_settings

from tests.accounts.conftest import log_in, make_reader
from tests.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    import time

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_admin_login_is_the_accounts_login(client):
    response = client.get("/admin/login/?next=/admin/tokens/token/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=%2Fadmin%2Ftokens%2Ftoken%2F"


def test_a_signed_in_reader_is_told_they_have_no_admin_access(client):
    client.force_login(make_reader())
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 403 and b"not a staff account" in response.content


@override_settings(ACCRUAL_ADMIN_REQUIRES_2FA=True)
def test_when_required_staff_without_an_authenticator_app_are_refused_the_admin(client):
    client.force_login(make_reader("editor@example.com", is_staff=True, is_superuser=True))
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"Turn on two-factor authentication to enter the admin" in response.content
    assert client.get("/admin/tokens/token/").status_code == 302


@override_settings(ACCRUAL_ADMIN_REQUIRES_2FA=True)
def test_when_required_staff_with_totp_log_in_with_a_code_and_enter_the_admin(client):
    editor = make_reader("editor@example.com", is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(editor, secret)

    response = log_in(client, "editor@example.com", next="/admin/")
    assert response.status_code == 302 and response["Location"] == "/account/2fa/authenticate/"
    assert SESSION_KEY not in client.session  # the password alone does not sign in
    response = client.post("/account/2fa/authenticate/", {"code": current_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@override_settings(ACCRUAL_ADMIN_REQUIRES_2FA=False)
def test_when_not_required_staff_without_totp_enter_the_admin(client):
    client.force_login(make_reader("editor@example.com", is_staff=True, is_superuser=True))
    assert client.get("/admin/").status_code == 200


def test_production_requires_2fa_for_the_admin_and_development_does_not():
    show = "from django.conf import settings; print(settings.ACCRUAL_ADMIN_REQUIRES_2FA)"
    production = manage("shell", "-c", show, **PRODUCTION, SECRET_KEY=secrets.token_urlsafe(60))
    assert production.returncode == 0, production.stderr
    assert production.stdout.splitlines()[-1] == "True"
    development = manage("shell", "-c", show)
    assert development.stdout.splitlines()[-1] == "False"
