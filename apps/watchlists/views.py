"""Watchlist pages and the star. Each view fetches the reader's object through
``watchlist_for_user`` (404 to anyone else), validates, calls a service, renders or redirects."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.selectors import plan_for, usage_for
from apps.tokens.models import Token

from . import selectors, services
from .forms import WatchlistNameForm
from .models import Watchlist
from .signals import PENDING_STAR_SESSION_KEY
from .templatetags.watchlists import star_html

# A form error or a plan limit: the request was understood but not carried out. htmx swaps
# this status too (base.html's responseHandling), so the message replaces the form.
UNPROCESSABLE = 422


def deleted_meanwhile(model: type[Model], what: str, *, htmx_tag: str = "div") -> Callable:
    """For a view whose service raises ``model.DoesNotExist`` when the reader's object was
    deleted between the view's fetch and the write (another tab, say): the not-found page
    saying so, nothing changed, instead of a 500. htmx gets the message as a fragment, with
    the status it swaps, in place of its target (``htmx_tag``: a "div", a table row "tr", a list item "li")."""
    message = f"This {what} was deleted, perhaps in another tab. Nothing was changed."

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except model.DoesNotExist:
                if request.htmx:
                    context = {"message": message, "tag": htmx_tag}
                    return render(request, "watchlists/_deleted.html", context, status=UNPROCESSABLE)
                return render(request, "watchlists/not_found.html", {"message": message}, status=404)

        return wrapped

    return decorator


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _token_or_404(request: HttpRequest, slug: str) -> Token | HttpResponse:
    token = Token.objects.select_related("latest_snapshot").filter(slug=slug).first()
    if token is None:
        message = f"There is no token “{slug}” to add: it may have been renamed or removed. Nothing was changed."
        return render(request, "watchlists/not_found.html", {"message": message}, status=404)
    return token


# --- The star ----------------------------------------------------------------------------


@require_POST
def star(request: HttpRequest, slug: str) -> HttpResponse:
    """Adds the token to the reader's default list or removes it. An anonymous reader's star
    is kept in the session and added once they log in, back on the page they were on."""
    token = _token_or_404(request, slug)
    if isinstance(token, HttpResponse):
        return token
    next_url = _safe_next(request, token.get_absolute_url())
    if not request.user.is_authenticated:
        request.session[PENDING_STAR_SESSION_KEY] = token.slug
        to_login = redirect_to_login(next_url, settings.LOGIN_URL)
        return HttpResponseClientRedirect(to_login.url) if request.htmx else to_login
    error = ""
    try:
        starred = services.watchlist_toggle(user=request.user, token=token)
    except services.LimitReached as exc:
        starred, error = False, exc.message
    status = UNPROCESSABLE if error else 200
    if request.htmx:
        html = star_html(token, starred=starred, next=next_url, csrf_token=get_token(request), error=error)
        return HttpResponse(html, status=status)
    if error:
        return render(request, "watchlists/limit.html", {"message": error, "next": next_url}, status=status)
    return redirect(next_url)


# --- Lists -------------------------------------------------------------------------------


def _index(request: HttpRequest, form: WatchlistNameForm, status: int = 200) -> HttpResponse:
    context = {"watchlists": selectors.watchlists_of(request.user), "form": form, "usage": usage_for(request.user)}
    return render(request, "watchlists/index.html", context, status=status)


@require_safe
@login_required
def index(request: HttpRequest) -> HttpResponse:
    return _index(request, WatchlistNameForm())


@require_POST
@login_required
def create(request: HttpRequest) -> HttpResponse:
    form = WatchlistNameForm(request.POST)
    if form.is_valid():
        try:
            watchlist = services.watchlist_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc)
        except services.LimitReached as exc:
            form.add_error(None, exc.message)
        else:
            return redirect(watchlist)
    return _index(request, form, status=UNPROCESSABLE)


def _detail(
    request: HttpRequest, watchlist, rename_form: WatchlistNameForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "page": selectors.watchlist_page(watchlist),
        "watchlist": watchlist,
        "rename_form": rename_form or WatchlistNameForm(initial={"name": watchlist.name}),
        "plan_limit": plan_for(request.user).max_tokens_per_watchlist,
    }
    return render(request, "watchlists/detail.html", context, status=status)


@require_safe
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, selectors.watchlist_for_user(user=request.user, pk=pk))


@require_POST
@login_required
@deleted_meanwhile(Watchlist, "watchlist")
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    watchlist = selectors.watchlist_for_user(user=request.user, pk=pk)
    form = WatchlistNameForm(request.POST)
    if form.is_valid():
        try:
            services.watchlist_rename(watchlist=watchlist, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc)
    if form.errors:
        watchlist.refresh_from_db(fields=["name"])  # the page keeps showing the name it has
    status = UNPROCESSABLE if form.errors else 200
    if request.htmx:
        context = {"watchlist": watchlist, "rename_form": form if form.errors else None, "renamed": not form.errors}
        return render(request, "watchlists/detail.html#title", context, status=status)
    if form.errors:
        return _detail(request, watchlist, rename_form=form, status=status)
    return redirect(watchlist)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (a GET never changes anything); POST deletes. A list deleted
    meanwhile (in another tab) is simply gone: the reader lands on their lists as after a delete."""
    watchlist = selectors.watchlist_for_user(user=request.user, pk=pk)
    if request.method == "POST":
        services.watchlist_delete(watchlist=watchlist)
        return redirect("watchlists:index")
    return render(request, "watchlists/delete.html", {"watchlist": watchlist})


@require_POST
@login_required
@deleted_meanwhile(Watchlist, "watchlist")
def remove_item(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    watchlist = selectors.watchlist_for_user(user=request.user, pk=pk)
    token = _token_or_404(request, slug)
    if isinstance(token, HttpResponse):
        return token
    services.watchlist_remove(user=request.user, token=token, watchlist=watchlist)
    return redirect(watchlist)


# Characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def _number(value) -> str:
    return "" if value is None else str(value)


@require_safe
@login_required
def export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The list as CSV: text from the database is escaped against formula injection; numbers
    are written as plain decimals (a negative change is a number, not a formula)."""
    watchlist = selectors.watchlist_for_user(user=request.user, pk=pk)
    page = selectors.watchlist_page(watchlist)
    filename = f"watchlist-{watchlist.pk}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "symbol",
            "name",
            "slug",
            "price_usd",
            "market_cap_usd",
            "ps",
            "holder_yield",
            "investor_grade",
            "trader_grade",
            "added_at",
            "price_at_add",
            "price_change_since_added",
            "investor_grade_at_add",
            "trader_grade_at_add",
        ]
    )
    for row in page.rows:
        s = row.snapshot
        writer.writerow(
            [
                csv_text(row.token.symbol.upper()),
                csv_text(row.token.name),
                csv_text(row.token.slug),
                _number(s.price_usd if s else None),
                _number(s.market_cap_usd if s else None),
                _number(s.ps if s else None),
                _number(s.holder_yield if s else None),
                row.investor_grade,
                row.trader_grade,
                row.item.added_at.isoformat(),
                _number(row.item.price_at_add),
                _number(row.price_change),
                row.item.investor_grade_at_add,
                row.item.trader_grade_at_add,
            ]
        )
    return response
