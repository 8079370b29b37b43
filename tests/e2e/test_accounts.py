"""Accounts in a real browser: sign up and confirm from the email, log in, turn on two-factor
authentication and log in with a code from the authenticator app."""

from __future__ import annotations

import os
import re
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from playwright.sync_api import expect

from apps.accounts.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unguessable phrase"
SCREENSHOTS = os.environ.get("ACCOUNTS_SCREENSHOTS")  # a folder: save each screen there to look at


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def totp_code(secret: str, counter: int) -> str:
    return format_hotp_value(hotp_value(secret, counter))


def test_sign_up_confirm_log_in_then_turn_on_2fa_and_log_in_with_a_code(live_server, page, console_errors):
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Sign up").click()
    shot(page, "signup")
    page.get_by_label("Email").fill("Reader@Example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["reader@example.com"]
    link = re.search(r"https?://\S+/account/confirm-email/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    page.goto(f"{live_server.url}/account/login/")
    shot(page, "login")
    page.get_by_label("Email").fill("reader@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    shot(page, "account")

    page.get_by_role("link", name="Turn on two-factor authentication").click()
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
    shot(page, "totp-activate")
    secret = page.get_by_label("Authenticator secret").input_value()
    activated_in = int(time.time()) // 30
    page.get_by_label("Authenticator code").fill(totp_code(secret, activated_in))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Recovery Codes")).to_be_visible()
    shot(page, "recovery-codes")
    assert User.objects.get(email="reader@example.com").authenticator_set.filter(type="totp").exists()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("Email").fill("reader@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    shot(page, "totp-login")
    # A code is accepted once: the one that activated the app cannot sign in again.
    while int(time.time()) // 30 == activated_in:
        time.sleep(0.5)
    page.get_by_label("Code").fill(totp_code(secret, int(time.time()) // 30))
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("#mfa-h + p")).to_contain_text("On")
    assert console_errors == []
