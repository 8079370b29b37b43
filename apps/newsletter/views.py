"""Newsletter pages: the sign-up form's endpoint, confirmation, unsubscribe and the account
page's buttons. Every answer to a sign-up is the same whatever the address's state."""

from __future__ import annotations

from allauth.core.internal import ratelimit
from allauth.core.internal.ratelimit import get_ip
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import links, selectors, services
from .forms import SignupForm
from .models import Subscription, SubscriptionStatus

UNPROCESSABLE = 422
TOO_MANY = 429
NEUTRAL = "Thanks. If this address can receive our newsletter, a link to confirm it is on its way: check your inbox."
SUBSCRIBED = "You are subscribed to the newsletter. You can stop it from your account page or any issue."
TOO_MANY_MESSAGE = "Too many sign-ups from this address or connection. Please wait an hour and try again."


def _client(request: HttpRequest) -> services.Client:
    return services.Client(ip=get_ip(request) or None, user_agent=request.META.get("HTTP_USER_AGENT", ""))


def _allowed(request: HttpRequest, email: str) -> bool:
    """Per address and per client IP (allauth's limiter: the same cache and proxy-aware IP as logins)."""
    config = {"newsletter_signup": settings.NEWSLETTER_SIGNUP_RATE_LIMITS}
    return bool(ratelimit.consume(request, app="newsletter", action="newsletter_signup", config=config, key=email))


def _back(request: HttpRequest, source: str) -> str:
    if source and url_has_allowed_host_and_scheme(source, allowed_hosts={request.get_host()}):
        return source
    return "/"


def _signup_answer(request: HttpRequest, form: SignupForm, *, message: str = "", status: int = 200) -> HttpResponse:
    context = {"signup_form": form, "signup_message": message, "signup_source": form.data.get("source", "")}
    template = "newsletter/_signup.html" if request.htmx else "newsletter/signup.html"
    return render(request, template, context, status=status)


@require_POST
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST)
    if not form.is_valid():
        return _signup_answer(request, form, status=UNPROCESSABLE)
    email = services.normalise_email(form.cleaned_data["email"])
    if not _allowed(request, email):
        return _signup_answer(request, form, message=TOO_MANY_MESSAGE, status=TOO_MANY)
    user = request.user if request.user.is_authenticated else None
    own = user is not None and email == user.email.lower() and selectors.has_verified_address(user, email)
    outcome = services.subscription_signup(
        email=email, client=_client(request), source=form.cleaned_data["source"], user=user, verified_own_address=own
    )
    message = SUBSCRIBED if outcome == services.SignupOutcome.SUBSCRIBED else NEUTRAL
    if request.htmx:
        return _signup_answer(request, SignupForm(), message=message)
    messages.success(request, message)
    return redirect(_back(request, form.cleaned_data["source"]))


def _link_problem(request: HttpRequest, exc: Exception, *, kind: str) -> HttpResponse:
    if isinstance(exc, links.LinkExpired):
        title, text, status = "This link has expired", "Confirmation links work for a limited time.", 410
    elif isinstance(exc, services.LinkUsed):
        title, status = "This link has already been used", 410
        text = "It was used already, or a newer sign-up replaced it. If you confirmed, you are subscribed."
    else:
        title, text, status = "This link is not valid", "It may have been cut short or changed on the way.", 400
    context = {"title": title, "text": text, "kind": kind}
    return render(request, "newsletter/link_problem.html", context, status=status)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing (mail scanners follow links); POST confirms."""
    try:
        if request.method == "GET":
            subscription = services.confirm_lookup(token)
            return render(request, "newsletter/confirm.html", {"email": subscription.email, "token": token})
        subscription = services.subscription_confirm(token=token, client=_client(request))
    except (links.LinkInvalid, links.LinkExpired, services.LinkUsed) as exc:
        return _link_problem(request, exc, kind="confirm")
    return render(request, "newsletter/confirmed.html", {"subscription": subscription})


@csrf_exempt  # one-click (RFC 8058): mail providers POST without cookies; the signed token is the secret
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing; POST (the button, or a mail provider's
    ``List-Unsubscribe=One-Click``) unsubscribes, answers 200 and may be repeated."""
    try:
        subscription_id = links.read_unsubscribe_token(token)
    except links.LinkInvalid as exc:
        return _link_problem(request, exc, kind="unsubscribe")
    if request.method == "GET":
        subscription = Subscription.objects.filter(pk=subscription_id).first()
        active = subscription is not None and subscription.status in {
            SubscriptionStatus.PENDING,
            SubscriptionStatus.CONFIRMED,
        }
        context = {"subscription": subscription, "active": active, "token": token}
        return render(request, "newsletter/unsubscribe.html", context)
    subscription = services.subscription_unsubscribe(subscription_id=subscription_id)
    return render(request, "newsletter/unsubscribed.html", {"subscription": subscription})


@login_required
@require_POST
def account_subscribe(request: HttpRequest) -> HttpResponse:
    user = request.user
    email = services.normalise_email(user.email)
    if not _allowed(request, email):
        messages.error(request, TOO_MANY_MESSAGE)
        return redirect("accounts:overview")
    own = selectors.has_verified_address(user, email)
    outcome = services.subscription_signup(
        email=email, client=_client(request), source="/account/", user=user, verified_own_address=own
    )
    messages.success(request, SUBSCRIBED if outcome == services.SignupOutcome.SUBSCRIBED else NEUTRAL)
    return redirect("accounts:overview")


@login_required
@require_POST
def account_unsubscribe(request: HttpRequest) -> HttpResponse:
    subscription = selectors.subscription_for_user(request.user)
    if subscription is not None:
        services.subscription_unsubscribe(subscription_id=subscription.pk)
    messages.success(request, "You are unsubscribed from the newsletter.")
    return redirect("accounts:overview")
