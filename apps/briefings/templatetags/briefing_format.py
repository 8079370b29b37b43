"""Filters for a briefing's stored figures, whose times and dates are ISO strings."""

from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


@register.filter
def iso_datetime(value: str | None) -> dt.datetime | dt.date | None:
    """A stored ISO time (or date) back as a datetime (or date), for |date and <time>."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@register.filter
def get_section(sections: dict, key: str):
    """A section by a key held in a variable (the movers' loop)."""
    return sections.get(key) if isinstance(sections, dict) else None
