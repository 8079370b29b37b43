"""The newsletter in a real browser: sign up from the home page (htmx swaps the box, no reload),
confirm from the email with the button, unsubscribe from the issue's link; and the same sign-up
without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from apps.newsletter.delivery import send_issue
from apps.newsletter.models import Subscription, SubscriptionStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def render(subscription):
    return ("Accrual briefing", "<html><body><p>Revenue moved.</p></body></html>", "Revenue moved.")


def test_a_visitor_signs_up_confirms_and_unsubscribes(live_server, page, console_errors, settings):
    settings.SITE_URL = live_server.url
    page.goto(f"{live_server.url}/")
    page.evaluate("window.notReloaded = true")
    box = page.locator(".newsletter-signup")
    box.get_by_label("Email address").fill("Visitor@Example.com")
    box.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status").filter(has_text="a link to confirm it is on its way")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True

    assert [m.to for m in mail.outbox] == [["visitor@example.com"]]
    link = re.search(r"http://\S+/newsletter/confirm/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING
    page.get_by_role("button", name="Yes, subscribe me").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    sub = Subscription.objects.get()
    assert sub.status == SubscriptionStatus.CONFIRMED and sub.source == "/" and sub.confirm_user_agent

    send_issue(issue_key="test:e2e", render=render)
    unsubscribe = re.search(r"<(\S+)>", mail.outbox[-1].extra_headers["List-Unsubscribe"]).group(1)
    page.goto(unsubscribe)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED


def test_sign_up_works_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/ratings/")
    page.get_by_label("Email address").fill("plain@example.com")
    page.get_by_role("button", name="Subscribe").click()
    assert page.url == f"{live_server.url}/ratings/"
    expect(page.get_by_text("a link to confirm it is on its way")).to_be_visible()
    assert Subscription.objects.get().email == "plain@example.com"
    context.close()
