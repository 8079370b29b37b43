"""The briefing archive, a day's briefing and their Atom feed. Drafts are 404 here."""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_safe

from . import selectors
from .models import Briefing

FEED_ITEMS = 30


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    page = selectors.archive_page(request.GET.get("page"))
    return render(request, "briefings/index.html", {"page": page})


def render_briefing_page(request: HttpRequest, briefing: Briefing, *, preview: bool = False) -> HttpResponse:
    """A briefing's page, public or in the admin's preview (the same template)."""
    watch = selectors.watch_section(briefing, selectors.watched_slugs(request.user))
    context = {"briefing": briefing, "movers": selectors.MOVERS, "watch": watch, "preview": preview}
    return render(request, "briefings/detail.html", context)


@require_safe
def detail(request: HttpRequest, day: str) -> HttpResponse:
    return render_briefing_page(request, selectors.public_briefing(day))


class BriefingFeed(Feed):
    """The latest briefings, newest first, each with its sections."""

    feed_type = Atom1Feed
    title = "Accrual daily briefings"
    subtitle = "What changed in the fundamentals each day: grades, signals, revenue, buybacks and burns, Top 10 lists."

    def link(self) -> str:
        return reverse("briefings:index")

    def feed_url(self) -> str:
        return reverse("briefings:feed")

    def items(self) -> list[Briefing]:
        return list(selectors.public_briefings()[:FEED_ITEMS])

    def item_title(self, item: Briefing) -> str:
        label = " (sample)" if item.is_sample else ""
        return f"Briefing of {item.date:%Y-%m-%d}{label}: {item.sections.get('summary', '')}"

    description_template = "briefings/_sections.html"

    def get_context_data(self, **kwargs) -> dict:
        # Links inside an item's content leave the site: they need its address.
        base = kwargs["request"].build_absolute_uri("/").rstrip("/")
        return {"s": kwargs["item"].sections, "base": base, "movers": selectors.MOVERS, "watch": []}

    def item_link(self, item: Briefing) -> str:
        return item.get_absolute_url()

    def item_guid(self, item: Briefing) -> str:
        return f"accrual:briefing:{item.date:%Y-%m-%d}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: Briefing):
        return item.built_at


feed = BriefingFeed()
