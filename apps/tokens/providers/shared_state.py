"""What every worker of a provider shares through Redis: its circuit, its outbound rate limit
(a rolling minute) and its plan's monthly quota. Without Redis each is per process; if Redis
is unreachable each fails open (the call goes ahead) and logs a warning.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from ..locks import redis_client
from .base import ProviderCircuitOpenError, ProviderQuotaExhaustedError

logger = logging.getLogger(__name__)


# --- Redis helpers ---------------------------------------------------------------------

REDIS_RETRY_AFTER = 15.0  # seconds a failed Redis is left alone before it is tried again

_redis_down_until: dict[str, float] = {}
_last_warning: dict[str, float] = {}


def _redis_call(url: str, component: str, provider: str, operation: Callable[[Any], Any], default: Any) -> Any:
    """Run ``operation(client)``; if Redis fails, log a warning and return ``default`` (fail
    open). After a failure Redis is skipped for REDIS_RETRY_AFTER seconds, so an outage costs
    one timeout, not one per request."""
    import redis

    if _redis_down_until.get(url, -math.inf) > time.monotonic():
        return default
    try:
        return operation(redis_client(url))
    except (redis.RedisError, OSError) as exc:
        now = time.monotonic()
        _redis_down_until[url] = now + REDIS_RETRY_AFTER
        key = f"{component}:{provider}"
        if now - _last_warning.get(key, -math.inf) >= 60:
            _last_warning[key] = now
            logger.warning("%s for %s: Redis unavailable (%s), failing open", component, provider, type(exc).__name__)
        return default


# --- Circuit breaker -------------------------------------------------------------------

_local_circuits: dict[str, dict[str, float]] = {}
_local_lock = threading.Lock()


class Circuit:
    """A circuit breaker per provider, shared by every worker through Redis.

    Each call that ends in a retryable failure (after its retries) counts one failure; a
    success resets the count. At ``failure_threshold`` the circuit opens: every client of the
    provider raises ``ProviderCircuitOpenError`` without a request until ``reset_timeout``
    seconds pass; then exactly one caller gets a trial request (half-open). The trial's
    success closes the circuit, its failure opens it again for ``reset_timeout``.

    Redis keys (``<prefix>:circuit:<provider>:…``): ``failures`` (counter, expires after
    ``failure_window`` seconds without failures), ``open_until`` (unix time by ``clock``) and
    ``trial`` (the half-open lock, expires after ``trial_ttl`` seconds if its holder dies).
    Without ``redis_url`` the same state lives in this process (shared by its instances).

    Hand-written rather than pybreaker's ``CircuitRedisStorage``: pybreaker half-opens with a
    plain shared SET of the state, so every worker that looks after the timeout sends its own
    trial (two workers, two trials) and the half-open state lets every later call through
    until one finishes; it also reads ``datetime.now`` (no fake clock) and keeps failure counts
    forever. This class holds the trial with ``SET NX``, so exactly one caller gets it.
    """

    def __init__(
        self,
        provider: str,
        *,
        redis_url: str | None = None,
        failure_threshold: int = 5,
        reset_timeout: float = 300,
        failure_window: float | None = None,
        trial_ttl: float = 120,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "accrual",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.provider = provider
        self.redis_url = redis_url or None
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.failure_window = float(failure_window if failure_window is not None else max(reset_timeout, 60))
        self.trial_ttl = float(trial_ttl)
        self.clock = clock
        base = f"{key_prefix}:circuit:{provider}"
        self.failures_key = f"{base}:failures"
        self.open_until_key = f"{base}:open_until"
        self.trial_key = f"{base}:trial"
        # Set by before_request when the shared state was clean (no failures, not open):
        # the success that follows then has nothing to clear and skips its round trip.
        self._seen = threading.local()

    def before_request(self) -> bool:
        """Raise ``ProviderCircuitOpenError`` while the circuit is open; return True when this
        caller holds the half-open trial (it then makes a single attempt)."""
        if self.redis_url:
            return _redis_call(self.redis_url, "circuit", self.provider, self._redis_before_request, False)
        return self._local_before_request()

    def record_success(self) -> None:
        if self.redis_url:
            if getattr(self._seen, "clean", False):
                self._seen.clean = False
                return
            _redis_call(
                self.redis_url,
                "circuit",
                self.provider,
                lambda r: r.delete(self.failures_key, self.open_until_key, self.trial_key),
                None,
            )
            return
        with _local_lock:
            _local_circuits.pop(self.failures_key, None)

    def record_failure(self, *, trial: bool = False) -> None:
        """One call ended in a retryable failure; a failed trial re-opens the circuit at once."""
        self._seen.clean = False
        if self.redis_url:
            _redis_call(self.redis_url, "circuit", self.provider, lambda r: self._redis_record_failure(r, trial), None)
            return
        with _local_lock:
            state = _local_circuits.setdefault(self.failures_key, {})
            now = self.clock()
            if now - state.get("last_failure", now) > self.failure_window:
                state["failures"] = 0
            state["failures"] = failures = state.get("failures", 0) + 1
            state["last_failure"] = now
            state.pop("trial", None)
            if trial or failures >= self.failure_threshold:
                state["open_until"] = now + self.reset_timeout
                self._log_opened(int(failures))

    def open_until(self) -> float | None:
        if self.redis_url:
            raw = _redis_call(self.redis_url, "circuit", self.provider, lambda r: r.get(self.open_until_key), None)
            return float(raw) if raw is not None else None
        with _local_lock:
            return _local_circuits.get(self.failures_key, {}).get("open_until")

    def state(self) -> str:
        """ "closed", "open" or "half-open" (for status pages and tests)."""
        open_until = self.open_until()
        if open_until is None:
            return "closed"
        return "open" if self.clock() < open_until else "half-open"

    def reset(self) -> None:
        """Forget all state (an operator's or a test's reset)."""
        self._seen.clean = False
        self.record_success()

    def _local_before_request(self) -> bool:
        with _local_lock:
            state = _local_circuits.get(self.failures_key)
            if not state or "open_until" not in state:
                return False
            now = self.clock()
            if now < state["open_until"] or state.get("trial", -math.inf) > now:
                raise ProviderCircuitOpenError(self.provider, state["open_until"])
            state["trial"] = now + self.trial_ttl
            return True

    def _redis_before_request(self, client: Any) -> bool:
        raw, failures = client.mget(self.open_until_key, self.failures_key)
        self._seen.clean = raw is None and failures is None
        if raw is None:
            return False
        open_until = float(raw)
        if self.clock() < open_until:
            raise ProviderCircuitOpenError(self.provider, open_until)
        if client.set(self.trial_key, "1", nx=True, ex=max(1, math.ceil(self.trial_ttl))):
            logger.info("circuit for %s half-open: sending one trial request", self.provider)
            return True
        raise ProviderCircuitOpenError(self.provider, open_until)

    def _redis_record_failure(self, client: Any, trial: bool) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.incr(self.failures_key)
        pipe.expire(self.failures_key, max(1, math.ceil(self.failure_window)))
        failures = int(pipe.execute()[0])
        if trial or failures >= self.failure_threshold:
            open_until = self.clock() + self.reset_timeout
            # The key outlives the open period in real time; its value decides.
            ttl = max(1, math.ceil(self.reset_timeout + self.failure_window))
            pipe = client.pipeline(transaction=True)
            pipe.set(self.open_until_key, repr(open_until), ex=ttl)
            pipe.delete(self.trial_key)
            pipe.execute()
            self._log_opened(failures)

    def _log_opened(self, failures: int) -> None:
        logger.warning(
            "circuit for %s opened after %d failed calls; no requests for %.0f s",
            self.provider,
            failures,
            self.reset_timeout,
        )


# --- Rate limiter ----------------------------------------------------------------------


@functools.cache
def _local_windows() -> MemoryStorage:
    """limits' in-process storage, shared by every limiter of this process without Redis."""
    return MemoryStorage()


class RateLimiter:
    """At most ``per_minute`` requests in any rolling minute for a provider, across all workers.

    limits' moving window: request times in a Redis list (``<prefix>:ratelimit:…``), checked
    and appended in one Lua call. Not a fixed window: windows aligned on unix time let twice the
    limit through across a boundary, which a provider counting a rolling minute answers with
    429s. When the window is full the caller waits (through ``sleep``) until its oldest request
    leaves it. Without ``redis_url`` the window is per process (limits' memory storage); if Redis
    fails the request goes ahead. limits reads ``time.time()`` itself: ``clock`` must be that
    clock (tests that fake one swap both).
    """

    def __init__(
        self,
        provider: str,
        *,
        per_minute: int,
        redis_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "accrual",
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.provider = provider
        self.per_minute = per_minute
        self.redis_url = redis_url or None
        self.sleep = sleep
        self.clock = clock
        self.item = RateLimitItemPerMinute(per_minute)
        if self.redis_url:
            pool = redis_client(self.redis_url).connection_pool
            storage = RedisStorage(self.redis_url, connection_pool=pool, key_prefix=f"{key_prefix}:ratelimit")
        else:
            storage = _local_windows()
        self.window = MovingWindowRateLimiter(storage)

    def acquire(self) -> float:
        """Take one slot, waiting while the rolling minute is full; returns the seconds waited."""
        waited = 0.0
        while not self._redis_or_local(lambda: self.window.hit(self.item, self.provider), True):
            reset = self._redis_or_local(lambda: self.window.get_window_stats(self.item, self.provider).reset_time, 0)
            # The oldest request leaves the window just after it is a full minute old.
            wait = max(reset - self.clock(), 0.0) + 0.001
            logger.info("rate limit for %s: rolling minute full, waiting %.2f s", self.provider, wait)
            self.sleep(wait)
            waited += wait
        return waited

    def _redis_or_local(self, operation: Callable[[], Any], default: Any) -> Any:
        if self.redis_url:
            return _redis_call(self.redis_url, "rate limiter", self.provider, lambda _client: operation(), default)
        return operation()


# --- Monthly quota ---------------------------------------------------------------------

_local_quota: dict[str, int] = {}  # without Redis: calls per quota key, in this process


class MonthlyQuota:
    """A provider plan's calls per calendar month (UTC), shared by every worker.

    Every request sent counts (retries too: the provider bills each call, whatever it
    returns). With Redis the count is ``<prefix>:quota:<provider>:<YYYY-MM>``, incremented
    atomically and kept for a month after its own; without Redis it is per process. When the
    month's ``limit`` is spent, ``spend`` raises ``ProviderQuotaExhaustedError`` and the request
    is not sent. ``limit`` 0 means no quota (calls are still counted). If Redis fails the call
    goes ahead (fail open, like the rate limit).
    """

    def __init__(
        self,
        provider: str,
        *,
        limit: int,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "accrual",
    ) -> None:
        if limit < 0:
            raise ValueError("limit must be 0 (no quota) or more")
        self.provider = provider
        self.limit = int(limit)
        self.redis_url = redis_url or None
        self.clock = clock
        self.key_base = f"{key_prefix}:quota:{provider}"

    @classmethod
    def from_settings(cls, provider: str, *, clock: Callable[[], float] = time.time) -> MonthlyQuota:
        """``<PROVIDER>_MONTHLY_QUOTA`` (e.g. COINGECKO_MONTHLY_QUOTA; missing = 0) and REDIS_URL."""
        from django.conf import settings

        return cls(
            provider,
            limit=int(getattr(settings, f"{provider.upper()}_MONTHLY_QUOTA", 0) or 0),
            redis_url=getattr(settings, "REDIS_URL", "") or None,
            clock=clock,
        )

    def month(self) -> str:
        """This month, ``YYYY-MM`` in UTC."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y-%m")

    def resets_at(self) -> dt.datetime:
        """The start (UTC) of the next month, when the count starts again from 0."""
        today = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return dt.datetime(today.year + today.month // 12, today.month % 12 + 1, 1, tzinfo=dt.UTC)

    def used(self, month: str | None = None) -> int:
        """Calls counted in ``month`` (``YYYY-MM``; default: this month)."""
        key = f"{self.key_base}:{month or self.month()}"
        if self.redis_url:
            raw = _redis_call(self.redis_url, "quota", self.provider, lambda r: r.get(key), None)
            used = int(raw or 0)
        else:
            with _local_lock:
                used = _local_quota.get(key, 0)
        # A refused call's increment is undone a moment later: never report past the limit.
        return min(used, self.limit) if self.limit else used

    def remaining(self) -> int | None:
        """Calls left this month; None when there is no quota."""
        return max(self.limit - self.used(), 0) if self.limit else None

    def spend(self) -> int:
        """Count one call about to be sent and return this month's count; raise
        ``ProviderQuotaExhaustedError`` (counting nothing) when the quota is spent."""
        key = f"{self.key_base}:{self.month()}"
        if self.redis_url:
            # The key outlives its month by a month, so last month's count can still be read.
            ttl = math.ceil(self.resets_at().timestamp() - self.clock()) + 31 * 86400

            def incr(client: Any) -> int:
                pipe = client.pipeline(transaction=True)
                pipe.incr(key)
                pipe.expire(key, ttl)
                used = int(pipe.execute()[0])
                if self.limit and used > self.limit:
                    client.decr(key)  # this call is not sent: it must not count
                return used

            used = _redis_call(self.redis_url, "quota", self.provider, incr, 0)
        else:
            with _local_lock:
                used = _local_quota.get(key, 0) + 1
                if not self.limit or used <= self.limit:
                    _local_quota[key] = used
        if self.limit and used > self.limit:
            raise ProviderQuotaExhaustedError(
                self.provider, limit=self.limit, used=used - 1, month=self.month(), resets_at=self.resets_at()
            )
        return used


def quota_used(provider: str, month: str | None = None) -> int:
    """Calls to ``provider`` counted in ``month`` (``YYYY-MM``, UTC; default: this month)."""
    return MonthlyQuota.from_settings(provider).used(month)
