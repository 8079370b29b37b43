"""Webhook pages. Every webhook is fetched through the reader's own rows (404 to anyone
else); services write; an htmx delete gets the empty row it swaps in, other posts redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.accounts.selectors import plan_for

from . import webhook_selectors as selectors
from . import webhooks
from .models import Webhook
from .services import LimitReached
from .views import UNPROCESSABLE, deleted_meanwhile


def _list_page(request: HttpRequest, *, url: str = "", error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "webhooks": list(selectors.webhooks_of(request.user)),
        "plan": plan_for(request.user),
        "url": url,
        "error": error,
    }
    return render(request, "watchlists/webhooks.html", context, status=status)


@require_safe
@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request)


@require_POST
@login_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    url = request.POST.get("url", "")[:1000]
    try:
        webhook = webhooks.webhook_create(user=request.user, url=url)
    except ValidationError as exc:
        return _list_page(request, url=url, error=exc.messages[0], status=UNPROCESSABLE)
    except LimitReached as exc:
        return _list_page(request, url=url, error=exc.message, status=UNPROCESSABLE)
    return redirect(webhook)


@require_safe
@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = selectors.webhook_for_user(user=request.user, pk=pk)
    context = {"webhook": webhook, "deliveries": selectors.delivery_log(webhook)}
    return render(request, "watchlists/webhook_detail.html", context)


@require_POST
@login_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = selectors.webhook_for_user(user=request.user, pk=pk)
    webhooks.webhook_delete(webhook=webhook)
    if request.htmx:
        return HttpResponse("")  # the row swaps out
    return redirect("webhooks:list")


@require_POST
@login_required
@deleted_meanwhile(Webhook, "webhook")
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = selectors.webhook_for_user(user=request.user, pk=pk)
    webhooks.webhook_rotate_secret(webhook=webhook)
    messages.success(request, "New secret made. The previous one stays valid for 24 hours.")
    return redirect(webhook)


@require_POST
@login_required
@deleted_meanwhile(Webhook, "webhook")
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = selectors.webhook_for_user(user=request.user, pk=pk)
    webhooks.webhook_send_test(webhook=webhook)
    messages.success(request, "Test event queued: it is sent within a minute.")
    return redirect(webhook)


@require_POST
@login_required
@deleted_meanwhile(Webhook, "webhook")
def webhook_resume(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = selectors.webhook_for_user(user=request.user, pk=pk)
    webhooks.webhook_resume(webhook=webhook)
    messages.success(request, "Webhook resumed.")
    return redirect(webhook)
