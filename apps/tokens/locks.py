"""Single-flight locks that every worker and command share: a refresh of one kind never runs
twice at once, wherever it was started.

With ``REDIS_URL`` a lock is redis-py's ``Lock``: ``SET key owner NX PX ttl`` to take it, a Lua
compare-and-delete to release it and a Lua compare-and-expire to extend it, so only its owner
can do either, and a holder that dies frees it when the TTL runs out. Without Redis (the
embedded ``make run``, tasks eager in one process) the lock is process-local: there is no
other process doing the work to exclude.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings

KEY_PREFIX = "accrual:lock"


@functools.cache
def redis_client(url: str) -> Any:
    """One client (connection pool) per URL and process; short timeouts so a dead Redis costs
    a second, not a refresh."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


class FlightLock:
    """A lock taken (or not: ``acquired``, also its truth value) by ``owner``."""

    def __init__(self, name: str, ttl: float, owner: str, redis_url: str | None) -> None:
        self.name = name
        self.key = f"{KEY_PREFIX}:{name}"
        self.ttl = float(ttl)
        self.owner = owner
        self.acquired = False
        self._redis_lock = None
        if redis_url:
            # thread_local=False: the token belongs to this object, whichever thread releases it.
            self._redis_lock = redis_client(redis_url).lock(self.key, timeout=self.ttl, thread_local=False)

    def __bool__(self) -> bool:
        return self.acquired

    def acquire(self) -> bool:
        """Take the lock if it is free, or if ``owner`` already holds it (a redelivered task,
        same id, takes over its own lock and gets a fresh TTL)."""
        if self._redis_lock is None:
            self.acquired = _local_acquire(self.key, self.owner, self.ttl)
            return self.acquired
        from redis.exceptions import LockNotOwnedError

        if self._redis_lock.acquire(blocking=False, token=self.owner):
            self.acquired = True
            return True
        self._redis_lock.local.token = self.owner.encode()
        try:
            self.acquired = self._redis_lock.reacquire()  # atomic: only if the stored owner is ours
        except LockNotOwnedError:
            self._redis_lock.local.token = None
        return self.acquired

    def extend(self, ttl: float | None = None) -> bool:
        """Reset the lock's TTL to ``ttl`` (default: the one it was taken with); False if it is no
        longer ours (it expired and someone else took it)."""
        ttl = self.ttl if ttl is None else float(ttl)
        if self._redis_lock is None:
            return _local_extend(self.key, self.owner, ttl)
        from redis.exceptions import LockError

        try:
            return self._redis_lock.extend(ttl, replace_ttl=True)
        except LockError:
            return False

    def release(self) -> bool:
        """Give the lock up if it is still ours; never deletes another owner's lock."""
        if not self.acquired:
            return False
        self.acquired = False
        if self._redis_lock is None:
            return _local_release(self.key, self.owner)
        from redis.exceptions import LockError

        try:
            self._redis_lock.release()
        except LockError:
            return False
        return True


@contextlib.contextmanager
def single_flight_lock(name: str, ttl: float, *, owner: str | None = None) -> Iterator[FlightLock]:
    """``with single_flight_lock("refresh_markets", 960, owner=task_id) as lock: if lock: …``.
    The lock is released on exit if it was taken; ``owner`` defaults to a fresh uuid."""
    lock = FlightLock(name, ttl, owner or uuid.uuid4().hex, getattr(settings, "REDIS_URL", "") or None)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


# --- Process-local fallback --------------------------------------------------------------

_local_locks: dict[str, tuple[str, float]] = {}  # key -> (owner, expires at, monotonic)
_local_guard = threading.Lock()


def _local_acquire(key: str, owner: str, ttl: float) -> bool:
    with _local_guard:
        now = time.monotonic()
        holder = _local_locks.get(key)
        if holder and holder[1] > now and holder[0] != owner:
            return False
        _local_locks[key] = (owner, now + ttl)
        return True


def _local_extend(key: str, owner: str, ttl: float) -> bool:
    with _local_guard:
        holder = _local_locks.get(key)
        if not holder or holder[0] != owner or holder[1] <= time.monotonic():
            return False
        _local_locks[key] = (owner, time.monotonic() + ttl)
        return True


def _local_release(key: str, owner: str) -> bool:
    with _local_guard:
        holder = _local_locks.get(key)
        if not holder or holder[0] != owner:
            return False
        del _local_locks[key]
        return True
