"""A briefing as an email: subject, HTML and plain text, with the reader's own tokens first."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from apps.accounts.models import User

from . import selectors
from .models import Briefing


def render_briefing_email(
    briefing: Briefing, *, subscription_user: User | None = None, unsubscribe_url: str, site_url: str | None = None
) -> tuple[str, str, str]:
    """(subject, html, text) of ``briefing`` for one subscriber. A subscriber with an account
    whose watchlists hold tokens the briefing mentions gets a first section about them."""
    base = (site_url or settings.SITE_URL).rstrip("/")
    watch = selectors.watch_section(briefing, selectors.watched_slugs(subscription_user))
    sample = " (sample)" if briefing.is_sample else ""
    subject = f"Accrual briefing {briefing.date:%Y-%m-%d}{sample}: {briefing.sections.get('summary', '')}"
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
