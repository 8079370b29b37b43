"""Newsletter emails: every one carries ``List-Unsubscribe`` (one HTTPS URL, RFC 2369),
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), a visible unsubscribe link
in both parts and a ``Message-ID``. Also the sign-up emails (confirm, already subscribed)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, send_mail
from django.utils.html import escape

from . import links
from .models import Subscription


def message_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "accrual.invalid"


def message_id_for(*, issue_key: str, delivery_id: int) -> str:
    """Fixed per (issue, subscriber): a copy sent twice would share it, so clients can drop it."""
    issue = re.sub(r"[^A-Za-z0-9.-]+", "-", issue_key).strip("-") or "issue"
    return f"<newsletter.{issue}.{delivery_id}@{message_domain()}>"


def _footer_text(url: str) -> str:
    return f"\n\n--\nYou receive this because you subscribed to Accrual's newsletter.\nUnsubscribe: {url}\n"


def _footer_html(url: str) -> str:
    return (
        '<p style="font-size:12px;color:#666">You receive this because you subscribed to Accrual\'s newsletter. '
        f'<a href="{escape(url)}">Unsubscribe</a></p>'
    )


def newsletter_message(
    *, subscription: Subscription, subject: str, html: str, text: str, message_id: str, bounce_address: str = ""
) -> EmailMultiAlternatives:
    """The email for one subscriber, unsent (the caller picks the connection). ``bounce_address``,
    when given, is the envelope sender (VERP, see verp.py); the From header stays DEFAULT_FROM_EMAIL."""
    url = links.unsubscribe_url(subscription)
    body_html = html
    footer = _footer_html(url)
    closing = body_html.lower().rfind("</body>")
    body_html = body_html[:closing] + footer + body_html[closing:] if closing >= 0 else body_html + footer
    headers = {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"Accrual newsletter <newsletter.{message_domain()}>",
        "Message-ID": message_id,
    }
    if bounce_address:
        # EmailMessage's from_email is the envelope sender (MAIL FROM); the header is set apart.
        headers["From"] = settings.DEFAULT_FROM_EMAIL
    message = EmailMultiAlternatives(
        subject=subject,
        body=text.rstrip("\n") + _footer_text(url),
        from_email=bounce_address or settings.DEFAULT_FROM_EMAIL,
        to=[subscription.email],
        headers=headers,
    )
    message.attach_alternative(body_html, "text/html")
    return message


def send_confirmation(subscription: Subscription) -> None:
    hours = settings.NEWSLETTER_CONFIRM_MAX_AGE // 3600
    body = (
        "Someone, probably you, asked to receive Accrual's newsletter at this address.\n\n"
        f"Confirm here (the link works once, for {hours} hours):\n{links.confirm_url(subscription)}\n\n"
        "If it was not you, ignore this email: nothing will be sent without confirmation.\n"
    )
    send_mail("Confirm your Accrual newsletter subscription", body, None, [subscription.email])


def send_already_subscribed(subscription: Subscription) -> None:
    body = (
        "Someone, probably you, asked to receive Accrual's newsletter at this address. "
        "It is already subscribed, so nothing changed.\n\n"
        f"To stop receiving it: {links.unsubscribe_url(subscription)}\n"
    )
    send_mail("You are already subscribed to Accrual's newsletter", body, None, [subscription.email])
