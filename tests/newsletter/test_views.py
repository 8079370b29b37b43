"""Sign-up, confirmation and unsubscribe as a visitor, a mail provider and a reader see them
(RELIABILITY 14–18), with the emails received by a real SMTP server on 127.0.0.1."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import signing
from django.test import Client
from django.utils import timezone

from apps.newsletter import links
from apps.newsletter.models import Subscription, SubscriptionStatus
from apps.newsletter.views import NEUTRAL, SUBSCRIBED
from tests.factories import SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (Test) Newsletter"


def sign_up(client, email, *, source="/ratings/", htmx=False, ip="203.0.113.7", **extra):
    headers = {"HTTP_USER_AGENT": UA, "REMOTE_ADDR": ip, **extra}
    if htmx:
        headers["HTTP_HX_REQUEST"] = "true"
    return client.post("/newsletter/signup/", {"email": email, "source": source}, **headers)


def link_in(message, path):
    return re.search(rf"https://accrual\.example(/newsletter/{path}/[^/\s]+/)", message.get_content()).group(1)


def snapshot(subscription):
    return Subscription.objects.filter(pk=subscription.pk).values().get()


# --- Sign-up and confirmation (17) ------------------------------------------------------------


def test_sign_up_creates_a_pending_subscription_and_emails_a_confirmation_link(
    client, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, "  Ann@Example.COM ")
    assert response.status_code == 302 and response["Location"] == "/ratings/"
    sub = Subscription.objects.get()
    assert (sub.email, sub.status) == ("ann@example.com", SubscriptionStatus.PENDING)
    assert (sub.signup_ip, sub.signup_user_agent, sub.source) == ("203.0.113.7", UA, "/ratings/")
    assert sub.confirmed_at is None
    [message] = smtp.messages
    assert message["To"] == "ann@example.com" and "Confirm" in message["Subject"]
    assert link_in(message, "confirm")
    # The neutral message follows the visitor back to the page.
    assert NEUTRAL in client.get("/").content.decode()


def test_confirming_shows_a_button_on_get_and_records_consent_on_post(client, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "ann@example.com")
    path = link_in(smtp.messages[0], "confirm")

    page = client.get(path)
    assert page.status_code == 200 and b"Yes, subscribe me" in page.content
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING  # a GET changes nothing

    before = timezone.now()
    done = client.post(path, HTTP_USER_AGENT="Confirming browser", REMOTE_ADDR="198.51.100.4")
    assert done.status_code == 200 and b"You are subscribed" in done.content
    sub = Subscription.objects.get()
    assert sub.status == SubscriptionStatus.CONFIRMED
    assert before <= sub.confirmed_at <= timezone.now()
    assert (sub.confirm_ip, sub.confirm_user_agent, sub.source) == ("198.51.100.4", "Confirming browser", "/ratings/")


def test_a_confirmation_link_works_once(client, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "ann@example.com")
    path = link_in(smtp.messages[0], "confirm")
    assert client.post(path).status_code == 200
    Subscription.objects.update(status=SubscriptionStatus.UNSUBSCRIBED)
    before = snapshot(Subscription.objects.get())
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410 and b"already been used" in response.content
    assert snapshot(Subscription.objects.get()) == before


def test_a_newer_sign_up_replaces_the_older_link(client, smtp, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            sign_up(client, "ann@example.com")
    old, new = (link_in(m, "confirm") for m in smtp.messages)
    assert client.post(old).status_code == 410
    assert client.post(new).status_code == 200


def test_an_expired_confirmation_link_gives_a_clear_page_and_changes_nothing(
    client, smtp, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "ann@example.com")
    path = link_in(smtp.messages[0], "confirm")
    settings.NEWSLETTER_CONFIRM_MAX_AGE = -1  # every link is older than that
    before = snapshot(Subscription.objects.get())
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410 and b"This link has expired" in response.content
    assert snapshot(Subscription.objects.get()) == before


# --- Tampered and foreign tokens (16) -------------------------------------------------------


def tampered(token):
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def forged_tokens(sub):
    confirm = links.confirm_token(sub)
    unsubscribe = links.unsubscribe_token(sub)
    other_secret = signing.Signer(key="another-site-secret-" * 3, salt=links.UNSUBSCRIBE_SALT).sign(str(sub.pk))
    return {
        "confirm": [tampered(confirm), unsubscribe, "garbage", "1:x"],
        "unsubscribe": [tampered(unsubscribe), str(sub.pk), confirm, other_secret, f"{sub.pk + 1}:{unsubscribe[-43:]}"],
    }


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe"])
def test_a_tampered_or_foreign_token_gets_a_clear_4xx_page_and_changes_nothing(client, kind):
    pending = SubscriptionFactory(status="pending", confirm_nonce="n" * 32, confirmed_at=None)
    confirmed = SubscriptionFactory()
    before = [snapshot(pending), snapshot(confirmed)]
    for sub in (pending, confirmed):
        for token in forged_tokens(sub)[kind]:
            for method in (client.get, client.post):
                response = method(f"/newsletter/{kind}/{token}/")
                assert response.status_code == 400, (token, response.status_code)
                assert b"This link is not valid" in response.content and b"Nothing was changed" in response.content
    assert [snapshot(pending), snapshot(confirmed)] == before


# --- Unsubscribe (14, 15) ---------------------------------------------------------------------


def test_a_get_on_the_unsubscribe_url_shows_a_button_and_changes_nothing(client):
    sub = SubscriptionFactory()
    before = snapshot(sub)
    response = client.get(links.unsubscribe_url(sub).removeprefix("https://accrual.example"))
    assert response.status_code == 200 and b">Unsubscribe</button>" in response.content
    assert snapshot(sub) == before


def test_one_click_post_without_cookies_unsubscribes_with_200_no_redirect_and_is_idempotent():
    sub = SubscriptionFactory()
    path = links.unsubscribe_url(sub).removeprefix("https://accrual.example")
    provider = Client(enforce_csrf_checks=True)  # a mail provider: no cookies, no CSRF token
    for _ in range(2):
        response = provider.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200 and "Location" not in response
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.UNSUBSCRIBED and sub.unsubscribed_at
    assert b"You are unsubscribed" in response.content


def test_the_unsubscribe_link_in_a_received_issue_works_by_one_click(smtp):
    from apps.newsletter.delivery import send_issue

    from .conftest import render

    sub = SubscriptionFactory()
    send_issue(issue_key="test:1", render=render)
    [url] = re.findall(r"<([^>]*)>", smtp.messages[0]["List-Unsubscribe"])
    response = Client(enforce_csrf_checks=True).post(
        url.removeprefix("https://accrual.example"), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.UNSUBSCRIBED
    send_issue(issue_key="test:2", render=render)
    assert len(smtp.messages) == 1


# --- Sign-up reveals nothing (18) --------------------------------------------------------------


def answer(response):
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return re.sub(r'"x-csrftoken": "[^"]+"|nonce="[^"]+"', "", body)


@pytest.mark.parametrize("htmx", [False, True])
def test_sign_up_answers_the_same_whether_or_not_an_address_is_subscribed_or_registered(client, smtp, htmx):
    SubscriptionFactory(email="confirmed@example.com")
    SubscriptionFactory(email="pending@example.com", status="pending")
    SubscriptionFactory(email="left@example.com", status="unsubscribed")
    SubscriptionFactory(email="bounced@example.com", status="suppressed")
    UserFactory(email="member@example.com")
    answers = set()
    for email in ("new@example.com", "confirmed@example.com", "pending@example.com", "left@example.com",
                  "bounced@example.com", "member@example.com"):  # fmt: skip
        response = sign_up(client, email, htmx=htmx, ip=f"192.0.2.{len(answers) + 10}")
        page = client.get(response["Location"]) if response.status_code == 302 else response
        answers.add((response.status_code, response.get("Location"), answer(page)))
    assert len(answers) == 1
    [(status, _location, body)] = answers
    assert NEUTRAL in body and status == (200 if htmx else 302)
    assert Subscription.objects.get(email="confirmed@example.com").status == SubscriptionStatus.CONFIRMED
    assert Subscription.objects.get(email="bounced@example.com").status == SubscriptionStatus.SUPPRESSED


def test_a_subscribed_address_is_told_by_email_not_on_the_page(client, smtp, django_capture_on_commit_callbacks):
    SubscriptionFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "ann@example.com")
    [message] = smtp.messages
    assert "already subscribed" in message["Subject"]
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


# --- Form, rate limits, the box on pages ------------------------------------------------------------


def test_htmx_sign_up_answers_the_box_alone(client):
    response = sign_up(client, "ann@example.com", htmx=True)
    body = response.content.decode()
    assert response.status_code == 200 and NEUTRAL in body
    assert body.lstrip().startswith(("{#", "<section")) and "<html" not in body


@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_address_is_refused_with_a_clear_message_and_nothing_is_written(client, htmx):
    response = sign_up(client, "not-an-address", htmx=htmx)
    assert response.status_code == 422 and b"Enter a valid email address." in response.content
    assert not Subscription.objects.exists()


def test_a_source_off_the_site_is_neither_recorded_nor_followed(client):
    response = sign_up(client, "ann@example.com", source="//evil.example/")
    assert response["Location"] == "/"
    assert Subscription.objects.get().source == ""


def test_sign_up_is_rate_limited_per_address(client, settings):
    settings.NEWSLETTER_SIGNUP_RATE_LIMITS = "2/h/key,100/h/ip"
    for i in range(2):
        assert sign_up(client, "ann@example.com", ip=f"192.0.2.{i}").status_code == 302
    refused = sign_up(client, "ANN@example.com", ip="192.0.2.99", htmx=True)
    assert refused.status_code == 429 and b"Too many sign-ups" in refused.content
    assert sign_up(client, "bob@example.com", ip="192.0.2.99").status_code == 302


def test_sign_up_is_rate_limited_per_ip(client, settings):
    settings.NEWSLETTER_SIGNUP_RATE_LIMITS = "100/h/key,3/h/ip"
    for i in range(3):
        assert sign_up(client, f"r{i}@example.com").status_code == 302
    refused = sign_up(client, "r9@example.com")
    assert refused.status_code == 429 and b"Too many sign-ups" in refused.content
    assert not Subscription.objects.filter(email="r9@example.com").exists()
    assert sign_up(client, "r9@example.com", ip="198.51.100.1").status_code == 302


@pytest.mark.parametrize("path", ["/", "/ratings/", "/top-lists/"])
def test_the_sign_up_box_is_on_the_public_pages(client, path):
    body = client.get(path).content.decode()
    assert 'action="/newsletter/signup/"' in body and f'name="source" value="{path}"' in body


# --- Logged-in readers ---------------------------------------------------------------------------


@pytest.fixture
def reader(client):
    user = UserFactory(email="reader@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    return user


def test_a_reader_subscribing_their_verified_address_is_subscribed_at_once(client, reader):
    response = sign_up(client, "Reader@example.com", htmx=True)
    assert SUBSCRIBED in response.content.decode()
    sub = Subscription.objects.get()
    assert (sub.status, sub.user, sub.confirm_ip) == (SubscriptionStatus.CONFIRMED, reader, "203.0.113.7")


def test_a_reader_manages_the_subscription_on_the_account_page(client, reader):
    page = client.get("/account/").content.decode()
    assert "Not subscribed" in page and 'action="/newsletter/account/subscribe/"' in page
    client.post("/newsletter/account/subscribe/")
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    page = client.get("/account/").content.decode()
    assert "Subscribed" in page and "reader@example.com" in page
    client.post("/newsletter/account/unsubscribe/")
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED


def test_the_account_buttons_need_a_login(client):
    for path in ("/newsletter/account/subscribe/", "/newsletter/account/unsubscribe/"):
        assert client.post(path).status_code == 302
    assert not Subscription.objects.exists()


def test_staff_read_subscriptions_and_deliveries_in_the_admin_without_the_confirm_nonce(client, smtp):
    from apps.newsletter.delivery import send_issue

    from .conftest import render

    admin = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    sub = SubscriptionFactory(email="ann@example.com", confirm_nonce="secret-nonce")
    send_issue(issue_key="test:1", render=render)
    for path in ("/admin/newsletter/subscription/", f"/admin/newsletter/subscription/{sub.pk}/change/",
                 "/admin/newsletter/delivery/"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200 and b"ann@example.com" in response.content
        assert b"secret-nonce" not in response.content


@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ups_of_one_address_at_once_make_one_subscription(settings):
    import threading

    from django.db import connection

    from apps.newsletter.services import Client as Who
    from apps.newsletter.services import subscription_signup

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    errors, start = [], threading.Barrier(4)

    def sign_up_now():
        try:
            start.wait()
            subscription_signup(email="twin@example.com", client=Who(ip="192.0.2.1"))
        except Exception as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up_now) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and Subscription.objects.filter(email="twin@example.com").count() == 1
