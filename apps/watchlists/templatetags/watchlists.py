from __future__ import annotations

from collections.abc import Container

from django import template
from django.utils.html import format_html

register = template.Library()


@register.inclusion_tag("watchlists/_star.html", takes_context=True)
def star(context, token, starred_ids: Container[int] = ()) -> dict:
    """The star button for a token; ``starred_ids`` is the page's set of starred token ids
    (read once for the whole page)."""
    request = context.get("request")
    return {
        "token": token,
        "starred": token.pk in starred_ids,
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def grade_since(before: str, now: str) -> str:
    """A grade then and now: "B → A ▲", or "—" when either is missing."""
    from ..selectors import grade_change

    change = grade_change(before, now)
    if change is None:
        return format_html('<span class="muted" title="{}">—</span>', "No grade when added or now")
    if change == 0:
        return format_html('<span class="grade-move">{} <span class="muted">unchanged</span></span>', now)
    arrow, cls, word = ("▲", "up", "up") if change > 0 else ("▼", "down", "down")
    return format_html(
        '<span class="grade-move grade-move-{}">{} → {} <span aria-hidden="true">{}</span>'
        '<span class="visually-hidden"> ({} {} band{})</span></span>',
        cls,
        before,
        now,
        arrow,
        word,
        abs(change),
        "" if abs(change) == 1 else "s",
    )
