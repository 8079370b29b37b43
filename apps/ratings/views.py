"""Ratings pages: leaderboard, methodology, track record, and a token's rating changes.
Thin: parse, call a selector, render; the HTMX variants render a named partial."""

from __future__ import annotations

from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from apps.tokens.selectors import data_status
from apps.watchlists.selectors import starred_token_ids

from . import selectors
from .forms import CompareForm, LeaderboardForm
from .methodology import METHODOLOGY
from .track_record import FORWARD_DAYS
from .track_record import track_record as ratings_track_record

PAGE_SIZE = 50


def _partial_wanted(request: HttpRequest) -> bool:
    # A history restore after a cache miss asks for the whole page, not the fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_safe
def leaderboard(request: HttpRequest) -> HttpResponse:
    """Invalid filters are shown as form errors (status 200) and left out; a page number
    that is not a page of the results is a 404."""
    form = LeaderboardForm(request.GET)
    form.is_valid()
    kwargs = form.selector_kwargs()
    as_of = selectors.ratings_as_of()
    paginator = Paginator(selectors.leaderboard_list(**kwargs, as_of=as_of), PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404("No such page of results") from exc
    context = {
        "form": form,
        "page": page,
        "ratings": page.object_list,
        "starred_ids": starred_token_ids(user=request.user, token_ids=[r.token_id for r in page.object_list]),
        "sort": kwargs["sort"],
        "direction": kwargs["direction"],
        "grade": kwargs["grade"],
        "filtered": bool(kwargs["category"] or kwargs["band"]),
        "as_of": as_of,
        "methodology": METHODOLOGY,
    }
    template = "ratings/leaderboard.html#results" if _partial_wanted(request) else "ratings/leaderboard.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
def methodology(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ratings/methodology.html",
        {"m": METHODOLOGY, "methodology": METHODOLOGY, "as_of": selectors.ratings_as_of()},
    )


@require_safe
def track_record(request: HttpRequest) -> HttpResponse:
    as_of = selectors.ratings_as_of()
    return render(
        request,
        "ratings/track_record.html",
        {
            "record": ratings_track_record(as_of=as_of),
            "as_of": as_of,
            "sample": data_status().mode == "sample",
            "forward_days": FORWARD_DAYS,
            "bands": METHODOLOGY.bands,
            "methodology": METHODOLOGY,
        },
    )


@require_safe
def rating_changes(request: HttpRequest, slug: str) -> HttpResponse:
    """A token's ratings compared between two days. Dates that cannot be read, or a day
    without a rating, are explained in the page (status 200), never a server error."""
    token = selectors.token_for_ratings(slug)
    form = CompareForm(request.GET or None)
    comparison = None
    if form.is_valid():
        comparison = selectors.rating_comparison(token, start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    context = {
        "token": token,
        "form": form,
        "comparison": comparison,
        "as_of": selectors.ratings_as_of(),
        "methodology": METHODOLOGY,
    }
    template = "ratings/_comparison.html" if _partial_wanted(request) else "ratings/changes.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
def rating_history(request: HttpRequest, slug: str) -> JsonResponse:
    """A token's grade-history series, fetched by the token page's chart when scrolled to."""
    return JsonResponse(selectors.rating_history_chart(selectors.token_for_ratings(slug)))
