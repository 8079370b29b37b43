"""The account page's API keys: create (the plaintext is shown once, in that response),
list, revoke. Each key is fetched with its owner in the query, so others get 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from .forms import APIKeyCreateForm
from .models import APIKey
from .selectors import api_keys_for_user, api_usage_by_day
from .services import api_key_create, api_key_revoke

USAGE_DAYS_SHOWN = 7


def _key_for_user(request: HttpRequest, prefix: str) -> APIKey:
    key = APIKey.objects.filter(user=request.user, prefix=prefix).first()
    if key is None:
        raise Http404("No such key")
    return key


def keys_context(request: HttpRequest, **extra) -> dict:
    return {
        "api_keys": api_keys_for_user(user=request.user),
        "key_form": APIKeyCreateForm(),
        "api_usage": api_usage_by_day(user=request.user, days=USAGE_DAYS_SHOWN),
    } | extra


def _render(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    template = "api/keys.html#keys" if request.htmx else "api/keys.html"
    return render(request, template, context, status=status)


@login_required
@require_safe
def key_list(request: HttpRequest) -> HttpResponse:
    return _render(request, keys_context(request))


@never_cache
@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    form = APIKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            key, plaintext = api_key_create(
                user=request.user, name=form.cleaned_data["name"], scopes=form.scopes(), expires_at=form.expires_at()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Rendered in this response only: never stored, never redirected to.
            return _render(request, keys_context(request, new_key=key, new_plaintext=plaintext))
    return _render(request, keys_context(request, key_form=form), status=422)


@login_required
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    key = _key_for_user(request, prefix)
    if request.method == "GET":
        return render(request, "api/revoke.html", {"key": key})
    api_key_revoke(key=key)
    if request.htmx:
        return _render(request, keys_context(request))
    return redirect("api_keys:list")
