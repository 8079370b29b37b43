"""The account page, its selector, and account deletion."""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import SESSION_KEY
from django.test import Client

from apps.accounts.models import User
from apps.accounts.selectors import account_overview
from tests.accounts.conftest import PASSWORD, make_reader

pytestmark = pytest.mark.django_db


def test_the_overview_reports_email_verification_and_two_factor_state(alice):
    before = account_overview(user=alice)
    assert (before.email, before.email_verified, before.totp_active) == ("alice@example.com", True, False)
    assert before.recovery_codes_unused is None
    TOTP.activate(alice, generate_totp_secret())
    RecoveryCodes.activate(alice)
    after = account_overview(user=alice)
    assert after.totp_active and after.recovery_codes_unused == 10


def test_the_account_page_shows_email_password_2fa_plan_and_delete(client, alice):
    client.force_login(alice)
    page = client.get("/account/").content.decode()
    assert "alice@example.com" in page and "Verified" in page
    for link in ("/account/email/", "/account/password/change/", "/account/2fa/totp/activate/", "/account/delete/"):
        assert f'href="{link}"' in page
    assert "Your plan: Free" in page and 'data-usage="watchlists">0 of 3<' in page


def test_the_account_page_shows_an_assigned_plan_and_its_use(client, alice):
    from apps.accounts.models import Plan
    from apps.watchlists.services import watchlist_create

    alice.plan = Plan.objects.get(slug="pro")
    alice.save(update_fields=["plan"])
    watchlist_create(user=alice, name="Revenue leaders")
    client.force_login(alice)

    page = client.get("/account/").content.decode()

    pro = alice.plan
    assert "Your plan: Pro" in page and f'data-usage="watchlists">1 of {pro.max_watchlists}<' in page


def test_the_header_offers_log_in_and_sign_up_to_visitors_and_a_logout_form_to_readers(client, alice):
    anonymous = client.get("/account/login/").content.decode()
    assert 'href="/account/signup/"' in anonymous and "Log out" not in anonymous
    client.force_login(alice)
    signed_in = client.get("/account/").content.decode()
    assert '<form method="post" action="/account/logout/"' in signed_in and 'href="/account/signup/"' not in signed_in


def test_deleting_the_account_needs_the_password_and_removes_the_user_and_their_data(client):
    reader = make_reader("carol@example.com")
    TOTP.activate(reader, generate_totp_secret())
    other_device = Client()
    client.force_login(reader)
    other_device.force_login(reader)

    refused = client.post("/account/delete/", {"password": "wrong"})
    assert refused.status_code == 400 and b"That is not your password." in refused.content
    assert User.objects.filter(pk=reader.pk).exists()

    response = client.post("/account/delete/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert not User.objects.filter(pk=reader.pk).exists()
    assert not EmailAddress.objects.filter(email="carol@example.com").exists()
    assert not Authenticator.objects.filter(user_id=reader.pk).exists()
    assert SESSION_KEY not in client.session
    assert other_device.get("/account/").status_code == 302


def test_a_get_on_delete_changes_nothing(client, alice):
    client.force_login(alice)
    assert client.get("/account/delete/").status_code == 200
    assert User.objects.filter(pk=alice.pk).exists()
