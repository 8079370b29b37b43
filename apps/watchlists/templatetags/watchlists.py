from __future__ import annotations

from collections.abc import Container

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# The star's markup, here rather than in a template: the screener and the leaderboard draw it
# on each of their 50 rows, and a template's nodes cost several times this one format.
STAR_HTML = (
    '<form class="star-form" method="post" action="{url}" hx-post="{url}" hx-swap="outerHTML">\n'
    '  <input type="hidden" name="csrfmiddlewaretoken" value="{csrf_token}">\n'
    '  <input type="hidden" name="next" value="{next}">\n'
    '  <button type="submit" class="star{on}" aria-pressed="{pressed}" aria-label="{label}" title="{title}">'
    '<span aria-hidden="true">{glyph}</span></button>\n'
    "  {error}\n"
    "</form>\n"
)


# The fixed parts of each state, safe already (format_html then leaves them as they are).
_STAR_ON = {
    "on": SafeString(" star-on"),
    "pressed": SafeString("true"),
    "title": SafeString("In your watchlist: click to remove"),
    "glyph": SafeString("★"),
}
_STAR_OFF = {
    "on": SafeString(""),
    "pressed": SafeString("false"),
    "title": SafeString("Add to your watchlist"),
    "glyph": SafeString("☆"),
}


def star_html(token, *, starred: bool, next: str, csrf_token, error: str = "") -> str:
    """The star button for a token: a form that adds it to the reader's watchlist or removes it."""
    symbol = token.symbol.upper()
    return format_html(
        STAR_HTML,
        url=reverse("watchlists:star", args=[token.slug]),
        csrf_token="" if csrf_token is None else csrf_token,
        next=next,
        label=f"Remove {symbol} from watchlist" if starred else f"Add {symbol} to watchlist",
        **(_STAR_ON if starred else _STAR_OFF),
        error=format_html('<span class="star-error" role="alert">{}</span>', error) if error else "",
    )


@register.simple_tag(takes_context=True)
def star(context, token, starred_ids: Container[int] = ()) -> str:
    """The star button for a token; ``starred_ids`` is the page's set of starred token ids
    (read once for the whole page)."""
    request = context.get("request")
    return star_html(
        token,
        starred=token.pk in starred_ids,
        next=request.get_full_path() if request is not None else "",
        csrf_token=context.get("csrf_token"),
    )


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
