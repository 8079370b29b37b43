"""Alert rules and notifications pages. Every object is fetched through the reader's own
rows (404 to anyone else); forms validate before a service writes; htmx requests get the
fragment they swap, plain posts a redirect."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.accounts.selectors import plan_for

from . import alert_selectors as selectors
from . import alerts
from .forms import AlertRuleForm
from .models import AlertRule, Notification
from .services import LimitReached
from .views import UNPROCESSABLE, deleted_meanwhile


def _rules_page(request: HttpRequest, form: AlertRuleForm, status: int = 200) -> HttpResponse:
    rules = list(selectors.rules_of(request.user))
    context = {"rules": rules, "form": form, "plan": plan_for(request.user)}
    return render(request, "watchlists/alerts.html", context, status=status)


@require_safe
@login_required
def rules(request: HttpRequest) -> HttpResponse:
    initial = {"token": request.GET.get("token", "")[:100]}
    return _rules_page(request, AlertRuleForm(user=request.user, initial=initial))


@require_POST
@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    form = AlertRuleForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            alerts.alert_rule_create(
                user=request.user,
                kind=data["kind"],
                token=data["token"],
                watchlist=data["watchlist"],
                threshold=data["threshold"],
                direction=data["direction"],
                delivery=data["delivery"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except LimitReached as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("alerts:rules")
    return _rules_page(request, form, status=UNPROCESSABLE)


@require_POST
@login_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_for_user(user=request.user, pk=pk)
    alerts.alert_rule_delete(rule=rule)
    if request.htmx:
        return HttpResponse("")  # the row swaps out
    return redirect("alerts:rules")


@require_POST
@login_required
@deleted_meanwhile(AlertRule, "alert rule", htmx_tag="tr")
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Pauses an active rule, resumes a paused one."""
    rule = selectors.rule_for_user(user=request.user, pk=pk)
    changed = alerts.alert_rule_change(rule=rule, is_active=not rule.is_active)
    rule.is_active = changed.is_active  # the fetched rule keeps its token and watchlist for the row
    if request.htmx:
        return render(request, "watchlists/_alert_rule.html", {"rule": rule})
    return redirect("alerts:rules")


@require_safe
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    context = {"notifications": selectors.notifications_of(request.user)}
    return render(request, "watchlists/notifications.html", context)


@require_POST
@login_required
@deleted_meanwhile(Notification, "notification", htmx_tag="li")
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = selectors.notification_for_user(user=request.user, pk=pk)
    alerts.notification_mark_read(notification=notification)
    if request.htmx:
        response = render(request, "watchlists/_notification.html", {"n": notification})
        response["HX-Trigger"] = "notifications-changed"  # the badge reloads
        return response
    return redirect("alerts:notifications")


@require_POST
@login_required
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    alerts.notifications_mark_all_read(user=request.user)
    return redirect("alerts:notifications")


@require_safe
@login_required
def badge(request: HttpRequest) -> HttpResponse:
    """The unread count in the header (one query), fetched by htmx on load and each minute."""
    return render(request, "watchlists/_badge.html", {"unread": selectors.unread_count(request.user)})
