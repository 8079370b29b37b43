"""API keys in a real browser: a reader creates a key on the account page (an HTMX swap that
shows the plaintext once), uses it, and revokes it after confirming."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from apps.api.models import APIKey
from tests.e2e.test_watchlists import log_in
from tests.factories import UserFactory
from tests.support.plans import ensure_plans

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _status(url: str, key: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": key}), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_reader_creates_a_key_sees_it_once_uses_it_and_revokes_it(live_server, page, console_errors):
    ensure_plans()
    reader = UserFactory()
    log_in(page.context, live_server, reader)

    page.goto(f"{live_server.url}/account/")
    page.evaluate("window.__marker = 1")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()

    plaintext = page.locator(".api-key-plaintext").inner_text()
    assert re.fullmatch(r"acr_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", plaintext)
    assert page.evaluate("window.__marker") == 1  # swapped in place, not reloaded
    assert _status(f"{live_server.url}/api/v1/me", plaintext) == 200

    page.reload()
    expect(page.locator(".api-keys-table")).to_contain_text("laptop")
    assert plaintext.partition(".")[2] not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".api-keys-table")).to_contain_text("Revoked")
    assert APIKey.objects.get(user=reader).revoked
    assert _status(f"{live_server.url}/api/v1/me", plaintext) == 401
    assert console_errors == []
