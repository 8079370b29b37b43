"""Key authentication: ``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``. Checking a key
is one cache read (``key_cache``; on a miss, one indexed lookup by its prefix) and a
constant-time compare of SHA-512 hashes; every invalid key (unknown, wrong secret, revoked,
expired, malformed) gets the same answer."""

from __future__ import annotations

import datetime as dt
import re
import threading

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apps.accounts.selectors import plan_for

from .key_cache import cache_keys, key_cached, key_remember
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


def key_cache_keys(request: Request) -> list[str]:
    """The cache keys the request's key will be looked up under (none without a key)."""
    raw = key_from_headers(request)
    return cache_keys(raw.partition(".")[0]) if raw and WELL_FORMED.fullmatch(raw) else []


def key_authenticate(raw: str, cache_reads: dict | None = None) -> APIKey | None:
    """The active key ``raw`` is, with its user and the plan its quotas come from (``key.plan``);
    None if it is not one. ``cache_reads``: the request's cache values, read already with
    ``key_cache_keys`` among them (ApiView); without them the key's entry is read here."""
    if not WELL_FORMED.fullmatch(raw):
        return None
    prefix = raw.partition(".")[0]
    key, version = key_cached(prefix, cache_reads)
    if key is None:
        # Without the password's hash: the key is kept in the cache, and no API request needs it.
        keys = APIKey.objects.select_related("user", "user__plan").defer("user__password")
        key = keys.filter(prefix=prefix, revoked=False).first()
        if key is None:
            return None
        key.plan = plan_for(key.user)
        key_remember(prefix, key, version)
    if not APIKey.objects.key_generator.verify(raw, key.hashed_key):
        return None
    if key.has_expired or not key.user.is_active:
        return None
    _touch(key)
    return key


# Keys this process wrote last_used for, and when: a cached key's own last_used is as old as
# its entry. Bounded: forgotten wholesale past _TOUCHED_MAX (each costs at most one more write).
_touched: dict[int, dt.datetime] = {}
_touched_lock = threading.Lock()
_TOUCHED_MAX = 50_000


def _touch(key: APIKey) -> None:
    now = timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    seen = max(filter(None, (key.last_used, _touched.get(key.pk))), default=None)
    if seen is not None and seen >= cutoff:
        return
    # Conditional, so concurrent requests (and processes) of one key write it once.
    APIKey.objects.filter(Q(last_used__isnull=True) | Q(last_used__lt=cutoff), pk=key.pk).update(last_used=now)
    with _touched_lock:
        if len(_touched) >= _TOUCHED_MAX:
            _touched.clear()
        _touched[key.pk] = now
    key.last_used = now


def forget_touches() -> None:
    """Forget which keys this process touched (tests)."""
    with _touched_lock:
        _touched.clear()


class ApiKeyAuthentication(BaseAuthentication):
    """Sets ``request.user`` to the key's owner and ``request.auth`` to the APIKey."""

    def authenticate(self, request: Request):
        raw = key_from_headers(request)
        if raw is None:
            return None
        key = key_authenticate(raw, getattr(request, "cache_reads", None))
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY, code="invalid-key")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return SCHEME
