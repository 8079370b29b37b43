"""Token pages: home, screener, token page. Thin: parse, call a selector, render."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from apps.ratings.selectors import token_rating_panel
from apps.watchlists.selectors import starred_token_ids

from . import selectors, token_page
from .forms import RANGE_FILTERS, ScreenerForm


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tokens/home.html", {"sections": selectors.home_sections()})


@require_safe
def screener(request: HttpRequest) -> HttpResponse:
    """The screener. Invalid filter values are shown as form errors (status 200) and left out
    of the query; a page number that is not a page of the results is a 404."""
    form = ScreenerForm(request.GET)
    form.is_valid()
    kwargs = form.selector_kwargs()
    paginator = Paginator(selectors.screener_list(**kwargs), settings.SCREENER_PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404("No such page of results") from exc
    context = {
        "form": form,
        "page": page,
        "tokens": page.object_list,
        "starred_ids": starred_token_ids(user=request.user, token_ids=[t.pk for t in page.object_list]),
        "sort": kwargs["sort"],
        "direction": kwargs["direction"],
        "range_filters": RANGE_FILTERS,
        "filtered": any(kwargs[name] for name in ("q", "category", "chain", "ranges")),
    }
    # A history restore after a cache miss asks for the whole page, not the fragment.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "tokens/screener.html#results" if partial else "tokens/screener.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
def token_detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = token_page.token_page(slug)
    return render(
        request,
        "tokens/detail.html",
        {
            "p": page,
            "token": page.token,
            "s": page.snapshot,
            "rating_panel": token_rating_panel(page.token),
            "starred_ids": starred_token_ids(user=request.user, token_ids=[page.token.pk]),
            "min_median_tokens": token_page.MIN_MEDIAN_TOKENS,
        },
    )


TOKEN_LIST_PAGE_SIZE = 50


def _token_list(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """A token's events or reports, paged: the token page shows only the latest few."""
    token, items = token_page.token_events(slug) if kind == "events" else token_page.token_reports(slug)
    try:
        page = Paginator(items, TOKEN_LIST_PAGE_SIZE).page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404("No such page") from exc
    return render(request, f"tokens/token_{kind}.html", {"token": token, "page": page})


@require_safe
def token_events(request: HttpRequest, slug: str) -> HttpResponse:
    return _token_list(request, slug, "events")


@require_safe
def token_reports(request: HttpRequest, slug: str) -> HttpResponse:
    return _token_list(request, slug, "reports")


@require_safe
def token_charts(request: HttpRequest, slug: str) -> JsonResponse:
    """The token page's chart series, fetched by its script when the charts are scrolled to."""
    return JsonResponse(token_page.token_chart(slug))
