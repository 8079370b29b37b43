"""The star an anonymous reader clicked is kept in their session until they log in, then
added: they come back to the page they were on with the token in their default list."""

from __future__ import annotations

from django.contrib import messages

from apps.tokens.models import Token

from .services import LimitReached, watchlist_add

PENDING_STAR_SESSION_KEY = "watchlists:pending_star"


def apply_pending_star(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    slug = session.pop(PENDING_STAR_SESSION_KEY, None) if session is not None else None
    if not slug:
        return
    token = Token.objects.filter(slug=slug).first()
    if token is None:  # removed while the reader was logging in
        return
    # fail_silently: a login outside a request cycle (tests, scripts) has no message store.
    try:
        item = watchlist_add(user=user, token=token)
    except LimitReached as exc:
        messages.warning(request, exc.message, fail_silently=True)
        return
    messages.success(request, f"{token.symbol.upper()} is in “{item.watchlist.name}”.", fail_silently=True)
