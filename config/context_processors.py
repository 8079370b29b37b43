"""Site-wide template context: the CSP nonce (for django-htmx's script tag) and data freshness."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    from apps.tokens.selectors import data_status

    return {
        "csp_nonce": getattr(request, "csp_nonce", ""),
        "data_status": data_status(),
        "ACCRUAL_DATA_MODE": settings.ACCRUAL_DATA_MODE,
    }
