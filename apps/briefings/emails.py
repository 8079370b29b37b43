"""A briefing as an email: subject, HTML and plain text, with the reader's own tokens first,
the newsletter's renderer factory for "briefing:<YYYY-MM-DD>" issues, and the test copies
staff send themselves (manage.py send_briefing --test-to, the admin's action)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils.html import escape

from apps.accounts.models import User

from . import selectors
from .models import Briefing

Render = Callable[[Any], tuple[str, str, str]]  # (a newsletter Subscription) -> (subject, html, text)


def render_briefing_email(
    briefing: Briefing,
    *,
    subscription_user: User | None = None,
    unsubscribe_url: str | None = None,
    watched_slugs: set[str] | None = None,
    site_url: str | None = None,
) -> tuple[str, str, str]:
    """(subject, html, text) of ``briefing`` for one subscriber. A subscriber whose watchlists
    hold tokens the briefing mentions gets a first section about them (``watched_slugs``, when
    given, saves reading ``subscription_user``'s). ``unsubscribe_url``: a footer link of its
    own (None when the newsletter's sending adds its own, as it does)."""
    base = (site_url or settings.SITE_URL).rstrip("/")
    slugs = watched_slugs if watched_slugs is not None else selectors.watched_slugs(subscription_user)
    watch = selectors.watch_section(briefing, slugs)
    sample = " (sample)" if briefing.is_sample else ""
    # Commas, not the page's middle dots: an ASCII subject needs no encoded words to fold.
    summary = briefing.sections.get("summary", "").replace(" · ", ", ")
    subject = f"Accrual briefing {briefing.date:%Y-%m-%d}{sample}: {summary}"
    context = {
        "briefing": briefing,
        "s": briefing.sections,
        "base": base,
        "movers": selectors.MOVERS,
        "watch": watch,
        "unsubscribe_url": unsubscribe_url,
        "page_url": f"{base}{briefing.get_absolute_url()}",
    }
    html = render_to_string("briefings/email/briefing.html", context)
    text = render_to_string("briefings/email/briefing.txt", context)
    return subject, html, text


def briefing_renderer(issue_key: str) -> Render | None:
    """The newsletter's renderer factory (NEWSLETTER_RENDERERS["briefing"]): the render
    function of "briefing:<YYYY-MM-DD>", or None if no ready or sent briefing has that date.
    The subscribers' watched tokens among the briefing's are read once for all of them."""
    kind, _, day = issue_key.partition(":")
    briefing = selectors.briefing_to_send(day) if kind == "briefing" else None
    if briefing is None:
        return None
    watchers = selectors.watchers_of(briefing)

    def render(subscription: Any) -> tuple[str, str, str]:
        slugs = watchers.get(subscription.user_id, set()) if subscription.user_id else set()
        return render_briefing_email(briefing, watched_slugs=slugs)

    return render


TEST_SUBJECT_PREFIX = "[TEST] "
TEST_FOOTER = (
    "This is a test copy of the briefing, sent by Accrual's staff to this address only. "
    "Subscribers' copies end with their own unsubscribe link here."
)


def test_copy_message(briefing: Briefing, address: str) -> EmailMultiAlternatives:
    """``briefing`` as a subscriber at ``address`` gets it (the tokens on that account's
    watchlists first, if the address is an account's), with "[TEST]" in its subject and a
    footer saying it is a test in place of the unsubscribe link: the address may not subscribe,
    and a test copy must change no subscription."""
    user = User.objects.filter(email__iexact=address).first()
    subject, html, text = render_briefing_email(briefing, subscription_user=user)
    footer_html = f'<p style="font-size:12px;color:#666"><strong>TEST COPY.</strong> {escape(TEST_FOOTER)}</p>'
    closing = html.lower().rfind("</body>")
    html = html[:closing] + footer_html + html[closing:] if closing >= 0 else html + footer_html
    message = EmailMultiAlternatives(
        subject=TEST_SUBJECT_PREFIX + subject,
        body=f"{text.rstrip()}\n\n--\nTEST COPY. {TEST_FOOTER}\n",
        to=[address],
    )
    message.attach_alternative(html, "text/html")
    return message


def send_test_copies(briefing: Briefing, addresses: list[str]) -> int:
    """Email one test copy of ``briefing`` (a draft too) to each address, over one connection;
    records no delivery. Returns how many were sent; SMTP errors propagate."""
    messages = [test_copy_message(briefing, address) for address in addresses]
    with get_connection(timeout=settings.NEWSLETTER_SMTP_TIMEOUT) as connection:
        return connection.send_messages(messages) or 0
