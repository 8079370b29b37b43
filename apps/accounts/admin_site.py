"""The admin site: signing in goes through the accounts login (its rate limits and 2FA), and
with ACCRUAL_ADMIN_REQUIRES_2FA staff without an authenticator app are kept out."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from apps.accounts.selectors import user_has_totp


def admin_requires_2fa() -> bool:
    return settings.ACCRUAL_ADMIN_REQUIRES_2FA


class AccrualAdminSite(admin.AdminSite):
    site_header = "Accrual editors"
    site_title = "Accrual admin"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not admin_requires_2fa() or user_has_totp(user=request.user)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            # Signed in but refused: say why instead of bouncing back to the login page.
            if user.is_active and user.is_staff:
                return render(request, "accounts/admin_needs_2fa.html", status=403)
            return render(request, "accounts/admin_not_staff.html", status=403)
        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
