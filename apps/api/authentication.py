"""Key authentication: ``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``. Checking a key
is one indexed lookup by its prefix and a constant-time compare of SHA-512 hashes; every
invalid key (unknown, wrong secret, revoked, expired, malformed) gets the same answer."""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .keys import KEY_PREFIX, PREFIX_RANDOM_LENGTH, SECRET_LENGTH
from .models import APIKey

SCHEME = "Api-Key"
WELL_FORMED = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9]{{{PREFIX_RANDOM_LENGTH}}}\.[A-Za-z0-9]{{{SECRET_LENGTH}}}")
# last_used is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)
INVALID_KEY = "Invalid API key."


def key_from_headers(request: Request) -> str | None:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == SCHEME.lower():
        return credentials.strip()
    header = request.META.get("HTTP_X_API_KEY")
    return header.strip() if header is not None else None


def key_authenticate(raw: str) -> APIKey | None:
    """The active key ``raw`` is, with its user and plan; None if it is not one."""
    if not WELL_FORMED.fullmatch(raw):
        return None
    prefix = raw.partition(".")[0]
    key = APIKey.objects.select_related("user", "user__plan").filter(prefix=prefix, revoked=False).first()
    if key is None or not APIKey.objects.key_generator.verify(raw, key.hashed_key):
        return None
    if key.has_expired or not key.user.is_active:
        return None
    _touch(key)
    return key


def _touch(key: APIKey) -> None:
    now = timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    if key.last_used is not None and key.last_used >= cutoff:
        return
    # Conditional, so concurrent requests of one key write it once.
    APIKey.objects.filter(Q(last_used__isnull=True) | Q(last_used__lt=cutoff), pk=key.pk).update(last_used=now)
    key.last_used = now


class ApiKeyAuthentication(BaseAuthentication):
    """Sets ``request.user`` to the key's owner and ``request.auth`` to the APIKey."""

    def authenticate(self, request: Request):
        raw = key_from_headers(request)
        if raw is None:
            return None
        key = key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY, code="invalid-key")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return SCHEME
