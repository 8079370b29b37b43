"""Public Top 10 pages and their Atom feed. Drafts and scheduled lists are 404 here; editors
see them through the admin's preview (apps/editorial/admin.py)."""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_safe

from apps.watchlists.selectors import starred_token_ids

from . import selectors
from .models import TopList


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    cards = selectors.index_cards()
    return render(request, "editorial/index.html", {"cards": cards})


def render_list_page(request: HttpRequest, page: selectors.ListPage) -> HttpResponse:
    """The list's page, public or in preview (the same template)."""
    starred = starred_token_ids(user=request.user, token_ids=[row.token.pk for row in page.entries])
    return render(request, "editorial/detail.html", {"page": page, "top_list": page.top_list, "starred": starred})


@require_safe
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = selectors.list_page(selectors.public_list(slug))
    return render_list_page(request, page)


class RevisionFeed(Feed):
    """Each revision of a public list, newest first: the tokens it added and dropped."""

    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, slug: str) -> TopList:
        return selectors.public_list(slug)

    def title(self, obj: TopList) -> str:
        return f"{obj.title} — revisions · Accrual"

    def link(self, obj: TopList) -> str:
        return obj.get_absolute_url()

    def feed_url(self, obj: TopList) -> str:
        return reverse("editorial:feed", kwargs={"slug": obj.slug})

    def subtitle(self, obj: TopList) -> str:
        return obj.summary

    def items(self, obj: TopList) -> list[selectors.RevisionRow]:
        return selectors.revision_rows(list(obj.revisions.all()))[::-1]

    def item_title(self, item: selectors.RevisionRow) -> str:
        r = item.revision
        return "Published" if r.number == 1 else f"Revision {r.number}"

    def item_description(self, item: selectors.RevisionRow) -> str:
        from django.template.loader import render_to_string

        return render_to_string("editorial/_feed_item.html", {"row": item})

    def item_link(self, item: selectors.RevisionRow) -> str:
        return f"{item.revision.top_list.get_absolute_url()}#revision-{item.revision.number}"

    def item_guid(self, item: selectors.RevisionRow) -> str:
        return f"accrual:top-list:{item.revision.top_list_id}:revision:{item.revision.number}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: selectors.RevisionRow):
        return item.revision.made_at

    def item_updateddate(self, item: selectors.RevisionRow):
        return item.revision.made_at

    def item_author_name(self, item: selectors.RevisionRow) -> str:
        return "Accrual editors"


revision_feed = RevisionFeed()

__all__ = ["detail", "index", "render_list_page", "revision_feed"]
