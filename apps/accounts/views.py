"""The account page and account deletion; sign-in, email, password and 2FA are allauth's views."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import AccountDeleteForm
from apps.accounts.selectors import account_overview, usage_for
from apps.accounts.services import account_delete


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    from apps.api.account_views import keys_context  # the page composes the API app's keys section

    context = {"overview": account_overview(user=request.user), "usage": usage_for(request.user)}
    context |= keys_context(request)
    return render(request, "accounts/overview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        account_delete(user=user)
        messages.success(request, "Your account and everything in it have been deleted.")
        return redirect("tokens:home")
    return render(request, "accounts/delete.html", {"form": form}, status=400 if form.errors else 200)
