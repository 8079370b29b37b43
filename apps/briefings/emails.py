"""A briefing as an email: subject, HTML and plain text, with the reader's own tokens first,
and the newsletter's renderer factory for "briefing:<YYYY-MM-DD>" issues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

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
