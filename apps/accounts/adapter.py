"""allauth's adapter, tuned for Accrual."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.ratelimit import get_ip
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """Count failed logins per (client IP, email), not per email alone: allauth's per-email
        count lets anyone lock a reader out by failing to log in as them; this way an attacker's
        guesses slow the attacker (with the per-IP limit) and the owner still gets in elsewhere."""
        return f"{get_ip(request)}:{super()._get_login_attempts_cache_key(request, **credentials)}"
