"""Sign-up, login, logout, password and email changes through allauth's views."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from apps.accounts.models import User
from tests.accounts.conftest import PASSWORD, log_in

pytestmark = pytest.mark.django_db


def confirmation_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/account/confirm-email/[^\s]+/)", message.body).group(1)


def test_sign_up_sends_a_confirmation_and_login_waits_for_it(client):
    response = client.post("/account/signup/", {"email": "Bob@Example.com", "password1": PASSWORD})
    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    user = User.objects.get()
    assert user.email == "bob@example.com"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["bob@example.com"]

    refused = log_in(client, "bob@example.com")
    assert SESSION_KEY not in client.session
    assert refused["Location"] == "/account/confirm-email/"

    link = confirmation_link(mail.outbox[0])
    assert client.get(link).status_code == 200  # a GET only shows the confirm button
    assert not EmailAddress.objects.get(user=user).verified
    client.post(link)
    assert EmailAddress.objects.get(user=user).verified

    log_in(client, "bob@example.com")
    assert client.session[SESSION_KEY] == str(user.pk)


def test_signing_up_again_with_the_same_address_in_other_case_creates_no_account(client, alice):
    response = client.post("/account/signup/", {"email": "ALICE@example.com", "password1": "another pass phrase 9"})
    assert response.status_code == 302  # the same answer as a new address (no enumeration)
    assert User.objects.count() == 1


def test_login_by_email_is_case_insensitive(client, alice):
    response = log_in(client, "Alice@Example.COM")
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert client.session[SESSION_KEY] == str(alice.pk)


def test_a_wrong_password_is_refused_with_the_form_again(client, alice):
    response = log_in(client, "alice@example.com", "not the password")
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert b'role="alert"' in response.content


def test_login_rotates_the_session_key(client, alice):
    client.get("/account/login/")
    client.session.save()
    before = client.session.session_key
    log_in(client, "alice@example.com")
    assert client.session.session_key != before


def test_logout_needs_a_post_and_ends_the_session_on_the_server(client, alice):
    from django.contrib.sessions.models import Session

    log_in(client, "alice@example.com")
    key = client.session.session_key
    assert client.get("/account/logout/").status_code == 200  # a confirmation page, still logged in
    assert client.get("/account/").status_code == 200
    client.post("/account/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/account/").status_code == 302


def test_an_htmx_post_without_the_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/account/logout/", headers={"HX-Request": "true"})
    assert response.status_code == 403


def test_an_htmx_post_with_the_csrf_token_succeeds(alice):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/account/login/")
    token = re.search(rb'"x-csrftoken": "([^"]+)"', page.content).group(1).decode()
    response = client.post(
        "/account/login/",
        {"login": "alice@example.com", "password": PASSWORD},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 302 and client.session[SESSION_KEY] == str(alice.pk)


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(alice):
    laptop, phone = Client(), Client()
    log_in(laptop, "alice@example.com")
    log_in(phone, "alice@example.com")
    assert phone.get("/account/").status_code == 200

    response = laptop.post(
        "/account/password/change/",
        {"oldpassword": PASSWORD, "password1": "a brand new pass phrase", "password2": "a brand new pass phrase"},
    )
    assert response.status_code == 302
    assert laptop.get("/account/").status_code == 200
    assert phone.get("/account/").status_code == 302


def test_changing_the_email_asks_for_the_password_again(client, alice):
    log_in(client, "alice@example.com")
    refused = client.post("/account/email/", {"action_add": "", "email": "new@example.com"})
    assert refused.status_code == 302 and refused["Location"].startswith("/account/reauthenticate/")
    assert not EmailAddress.objects.filter(email="new@example.com").exists()

    wrong = client.post(refused["Location"], {"password": "not my password"})
    assert wrong.status_code == 200
    client.post(refused["Location"], {"password": PASSWORD})
    client.post("/account/email/", {"action_add": "", "email": "new@example.com"})
    assert EmailAddress.objects.filter(user=alice, email="new@example.com", verified=False).exists()
    assert mail.outbox[-1].to == ["new@example.com"]


@pytest.mark.parametrize(
    "url",
    ["/account/", "/account/delete/", "/account/email/", "/account/password/change/", "/account/2fa/"],
)
def test_an_anonymous_visitor_is_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/?next=")


def test_a_superuser_from_createsuperuser_confirms_the_address_at_first_login(client):
    """createsuperuser records no email address: the first login mails a link, as the README says."""
    User.objects.create_superuser("Root@Example.com", PASSWORD)
    response = log_in(client, "root@example.com")
    assert response["Location"] == "/account/confirm-email/"
    assert SESSION_KEY not in client.session
    client.post(confirmation_link(mail.outbox[-1]))
    log_in(client, "root@example.com")
    assert client.get("/admin/").status_code == 200


def test_a_reader_with_2fa_can_change_their_email_and_the_new_one_counts_once_confirmed(client, alice):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(alice, generate_totp_secret())
    client.force_login(alice)
    client.post("/account/reauthenticate/", {"password": PASSWORD})
    client.post("/account/email/", {"action_add": "", "email": "new@example.com"})
    assert EmailAddress.objects.get(user=alice, email="new@example.com").verified is False
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"  # the old address stays until the new one is confirmed

    client.post(confirmation_link(mail.outbox[-1]))
    alice.refresh_from_db()
    assert alice.email == "new@example.com"
    assert list(EmailAddress.objects.filter(user=alice).values_list("email", flat=True)) == ["new@example.com"]


def test_password_reset_mails_a_link_to_a_known_address_only_and_answers_the_same(client, alice):
    known = client.post("/account/password/reset/", {"email": "ALICE@example.com"})
    unknown = client.post("/account/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/account/password/reset/done/"
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]

    link = re.search(r"https?://[^/\s]+(/account/password/reset/key/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # allauth moves the key out of the URL first
    client.post(form_url, {"password1": "a fresh pass phrase 7", "password2": "a fresh pass phrase 7"})
    assert log_in(client, "alice@example.com", "a fresh pass phrase 7")["Location"] == "/account/"
