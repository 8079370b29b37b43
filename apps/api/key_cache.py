"""Checked keys kept in the site's cache, so a request's key costs one cache read instead of a
database query that joins the key, its reader and their plan (two thirds of a cached list
request's time; bench/README "Subscriber API").

Every entry carries the version of the keys it was read under. Saving or deleting any key,
reader or plan puts a new version in place, at once and again when the transaction commits;
an entry of another version is never used. The version is read in the same round trip as the
entry and *before* the database: an entry that a slow request writes from rows read before a
change carries the version from before it, so a revoked key is refused from its next request.

A change saved while the cache is unreachable cannot retire the entries: it is logged, never
fails the save, and the entries expire within ENTRY_TTL of the cache's return.
"""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import transaction

from apps.accounts.middleware import CACHE_ERRORS

from .models import APIKey

logger = logging.getLogger(__name__)

VERSION_KEY = "api:keys:version"
# Seconds; a bound on any change the version missed (raw SQL, a cache outage). Each active key
# is read from the database once per ENTRY_TTL at most: nothing at any traffic.
ENTRY_TTL = 60
# Reader saves that change nothing a key's check or its request reads.
IGNORED_USER_FIELDS = frozenset({"last_login"})


def _entry_key(prefix: str) -> str:
    return f"api:key:{prefix}"


def cache_keys(prefix: str) -> list[str]:
    """What ``key_cached`` reads, for a caller that reads them with others in one round trip."""
    return [_entry_key(prefix), VERSION_KEY]


def key_cached(prefix: str, found: dict | None = None) -> tuple[APIKey | None, str | None]:
    """The cached key (with its reader and plan) if its entry is current, and the version
    read: pass it to ``key_remember`` after reading the database. ``found``: the values of
    ``cache_keys(prefix)`` when the caller has read them already."""
    entry_key = _entry_key(prefix)
    if found is None:
        found = cache.get_many(cache_keys(prefix))
    version, entry = found.get(VERSION_KEY), found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1], version
    return None, version


def key_remember(prefix: str, key: APIKey, version: str | None) -> None:
    if version is None:
        # No version yet (a new or flushed cache): start one; this request's rows are not kept,
        # as a change could have come between them and this version.
        cache.add(VERSION_KEY, secrets.token_hex(8), None)
        return
    cache.set(_entry_key(prefix), (version, key), ENTRY_TTL)


def keys_changed() -> None:
    """Retire every cached key: now, and once the change is committed (a request between the
    two may have read the rows from before it)."""
    _new_version()
    transaction.on_commit(_new_version)


def _new_version() -> None:
    try:
        cache.set(VERSION_KEY, secrets.token_hex(8), None)
    except CACHE_ERRORS as exc:
        logger.error("API key cache unreachable (%s): cached keys expire within %s s", type(exc).__name__, ENTRY_TTL)


def on_change(sender, **kwargs) -> None:
    keys_changed()


def on_user_saved(sender, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= IGNORED_USER_FIELDS:
        return  # a login: nothing the API reads
    keys_changed()
