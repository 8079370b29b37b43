"""API quotas: per account (the key's user), per minute and per calendar month (UTC), from the
reader's plan. With ``REDIS_URL`` the counters live in Redis and one Lua script checks and
counts both atomically, so several web processes never let more than the limit through; a
refused request is not counted. Without Redis (the embedded mode: one process) they live in
this process. If Redis fails, requests go through (fail open) and an error is logged.

Redis keeps nothing on disk: when an account's month counter is missing (a new month, or a
flush or restart) it is seeded from the month's requests recorded in the database
(KeyUsageDay) before counting, so a restart does not hand out a second month's quota. The
process's own counters are seeded the same way on an account's first request of the month.

The same call counts the request against its key's usage for the day; ``apps.api.usage``
copies those counts into the database and reads them back.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from apps.accounts.models import Plan

logger = logging.getLogger(__name__)

MINUTE = 60
USAGE_DAYS_KEPT = 35  # days of per-key usage Redis keeps (the database keeps them for good: usage.py)
REDIS_RETRY_AFTER = 15.0  # seconds a failed Redis is left alone, so an outage costs one timeout

UNSEEDED = -1  # the script's answer when the month counter is missing and no seed was given

# KEYS: minute counter, month counter, the day's usage hash. ARGV: minute limit, month limit,
# minute TTL, month TTL, usage field (the key's prefix), usage TTL, and optionally the month's
# seed. A missing month counter without a seed answers UNSEEDED and counts nothing; with one
# it is set (NX: a process that seeded first wins, both agree) and the request counted.
CHECK_AND_COUNT = """
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = redis.call('GET', KEYS[2])
if not month then
  if ARGV[7] == nil then return {-1, minute, 0} end
  redis.call('SET', KEYS[2], ARGV[7], 'NX', 'EX', ARGV[4])
  month = redis.call('GET', KEYS[2])
end
month = tonumber(month)
if minute >= tonumber(ARGV[1]) or month >= tonumber(ARGV[2]) then
  return {0, minute, month}
end
minute = redis.call('INCR', KEYS[1])
if minute == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
month = redis.call('INCR', KEYS[2])
if month == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {1, minute, month}
"""


@dataclass(frozen=True)
class PolicyState:
    """One quota as the IETF RateLimit headers describe it."""

    name: str
    quota: int
    window: int  # seconds
    remaining: int | None  # None: unknown (Redis unreachable)
    reset: int  # seconds until the window ends, at least 1

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    policies: tuple[PolicyState, ...]

    @property
    def retry_after(self) -> int:
        """Whole seconds until every exhausted quota has room again (at least 1)."""
        return max([p.reset for p in self.policies if p.exhausted], default=1)


@dataclass(frozen=True)
class _Windows:
    minute_id: int
    month_id: str  # "2026-12"
    day: str  # "2026-12-05"
    minute_reset: int
    month_window: int
    month_reset: int


def _windows(now: float) -> _Windows:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    days_in_month = calendar.monthrange(moment.year, moment.month)[1]
    month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = month_start + dt.timedelta(days=days_in_month)
    return _Windows(
        minute_id=int(now // MINUTE),
        month_id=moment.strftime("%Y-%m"),
        day=moment.strftime("%Y-%m-%d"),
        minute_reset=max(1, math.ceil(MINUTE - now % MINUTE)),
        month_window=days_in_month * 86_400,
        month_reset=max(1, math.ceil(next_month.timestamp() - now)),
    )


def _key_prefix() -> str:
    return settings.ACCRUAL_API_QUOTA_KEY_PREFIX


def _decision(plan: Plan, windows: _Windows, allowed: bool, minute: int | None, month: int | None) -> QuotaDecision:
    def remaining(limit: int, used: int | None) -> int | None:
        return None if used is None else max(limit - used, 0)

    per_minute, per_month = plan.api_requests_per_minute, plan.api_requests_per_month
    return QuotaDecision(
        allowed=allowed,
        policies=(
            PolicyState("minute", per_minute, MINUTE, remaining(per_minute, minute), windows.minute_reset),
            PolicyState("month", per_month, windows.month_window, remaining(per_month, month), windows.month_reset),
        ),
    )


def _month_seed(user_id: int, windows: _Windows) -> int:
    """The month's requests recorded in the database for the account, from the 1st to today;
    0 (and an error logged) when the database fails, so the request still goes through."""
    from django.db import DatabaseError, connection, transaction

    from .usage import requests_recorded

    today = dt.date.fromisoformat(windows.day)
    try:
        if not connection.in_atomic_block:
            return requests_recorded(user_id=user_id, first=today.replace(day=1), last=today)
        # In a transaction a failed query would poison the rest of it: a savepoint contains it.
        with transaction.atomic():
            return requests_recorded(user_id=user_id, first=today.replace(day=1), last=today)
    except DatabaseError as exc:
        logger.error(
            "API quotas: database error (%s) while seeding account %s's month counter; counting from 0",
            type(exc).__name__,
            user_id,
        )
        return 0


# --- Redis -------------------------------------------------------------------------------

_redis_down_until: dict[str, float] = {}


def _redis(url: str):
    from apps.tokens.locks import redis_client

    return redis_client(url)


@functools.cache
def _check_and_count_script(url: str):
    """The script, sent by its SHA (redis-py loads it again after a Redis restart)."""
    return _redis(url).register_script(CHECK_AND_COUNT)


def _redis_failed(url: str, exc: Exception, what: str) -> None:
    _redis_down_until[url] = time.monotonic() + REDIS_RETRY_AFTER
    logger.error("API quotas: Redis unreachable (%s) while %s; failing open", type(exc).__name__, what)


def _redis_usable(url: str) -> bool:
    return _redis_down_until.get(url, -math.inf) <= time.monotonic()


def _redis_check(url: str, *, user_id: int, key_prefix: str, plan: Plan, windows: _Windows) -> QuotaDecision:
    import redis

    if not _redis_usable(url):
        return _decision(plan, windows, True, None, None)
    base = f"{_key_prefix()}:{user_id}"
    keys = [f"{base}:minute:{windows.minute_id}", f"{base}:month:{windows.month_id}", f"{base}:usage:{windows.day}"]
    args = [
        plan.api_requests_per_minute,
        plan.api_requests_per_month,
        MINUTE * 2,
        windows.month_reset + 86_400,
        key_prefix,
        USAGE_DAYS_KEPT * 86_400,
    ]
    script = _check_and_count_script(url)
    try:
        allowed, minute, month = script(keys=keys, args=args)
        if allowed == UNSEEDED:
            # The month's first request of the account (or the first since a flush) costs one
            # query and a second round trip; later ones find the counter and cost neither.
            allowed, minute, month = script(keys=keys, args=[*args, _month_seed(user_id, windows)])
    except (redis.RedisError, OSError) as exc:
        _redis_failed(url, exc, "counting a request")
        return _decision(plan, windows, True, None, None)
    return _decision(plan, windows, bool(allowed), int(minute), int(month))


# --- This process (no Redis) ---------------------------------------------------------------

_local_lock = threading.Lock()
# Per account: (window id, count) of its current minute and month, so memory stays bounded.
_local_minutes: dict[int, tuple[int, int]] = {}
_local_months: dict[int, tuple[str, int]] = {}
_local_usage: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))


def _local_check(*, user_id: int, key_prefix: str, plan: Plan, windows: _Windows) -> QuotaDecision:
    decision = _local_count(user_id=user_id, key_prefix=key_prefix, plan=plan, windows=windows, seed=None)
    if decision is None:
        # The account's first request of the month in this process costs this one query, made
        # outside the lock so other accounts' requests never wait on the database.
        seed = _month_seed(user_id, windows)
        decision = _local_count(user_id=user_id, key_prefix=key_prefix, plan=plan, windows=windows, seed=seed)
    return decision


def _local_count(
    *, user_id: int, key_prefix: str, plan: Plan, windows: _Windows, seed: int | None
) -> QuotaDecision | None:
    """The script's work in this process; None (nothing counted) when the account's month is
    unseeded and no ``seed`` is given. A month another thread seeded meanwhile keeps its count."""
    with _local_lock:
        minute_id, minute = _local_minutes.get(user_id, (windows.minute_id, 0))
        month_id, month = _local_months.get(user_id, (None, 0))
        if month_id != windows.month_id:
            if seed is None:
                return None
            month = seed
            _local_months[user_id] = (windows.month_id, month)
        minute = minute if minute_id == windows.minute_id else 0
        if minute >= plan.api_requests_per_minute or month >= plan.api_requests_per_month:
            return _decision(plan, windows, False, minute, month)
        minute, month = minute + 1, month + 1
        _local_minutes[user_id] = (windows.minute_id, minute)
        _local_months[user_id] = (windows.month_id, month)
        _local_usage[(user_id, windows.day)][key_prefix] += 1
    return _decision(plan, windows, True, minute, month)


def reset_local_state() -> None:
    """Forget this process's counters (tests)."""
    with _local_lock:
        _local_minutes.clear()
        _local_months.clear()
        _local_usage.clear()
    _redis_down_until.clear()


# --- Public --------------------------------------------------------------------------------


def quota_check(*, user_id: int, key_prefix: str, plan: Plan, now: float | None = None) -> QuotaDecision:
    """Check the account's quotas for one more request and, if allowed, count it (atomically)."""
    windows = _windows(time.time() if now is None else now)
    if settings.REDIS_URL:
        return _redis_check(settings.REDIS_URL, user_id=user_id, key_prefix=key_prefix, plan=plan, windows=windows)
    return _local_check(user_id=user_id, key_prefix=key_prefix, plan=plan, windows=windows)


class UsageUnreadable(Exception):
    """The quota store could not be read (Redis unreachable)."""


def counted_usage(*, user_id: int, days: list[dt.date]) -> dict[dt.date, dict[str, int]]:
    """Requests counted per day and key prefix, for ``days`` (one Redis round trip); empty
    when Redis is unreachable (fail open, as the quotas do)."""
    labels = [day.isoformat() for day in days]
    if not settings.REDIS_URL:
        with _local_lock:
            return {day: dict(_local_usage.get((user_id, label), {})) for day, label in zip(days, labels, strict=True)}
    import redis

    url = settings.REDIS_URL
    if not _redis_usable(url):
        return {}
    pipe = _redis(url).pipeline(transaction=False)
    for label in labels:
        pipe.hgetall(f"{_key_prefix()}:{user_id}:usage:{label}")
    try:
        rows = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        _redis_failed(url, exc, "reading usage")
        return {}
    return {day: _usage_row(row) for day, row in zip(days, rows, strict=True)}


def counted_usage_on(*, day: dt.date, batch: int = 500) -> Iterator[list[tuple[int, dict[str, int]]]]:
    """Every account's requests counted on ``day`` per key prefix, ``batch`` accounts at a
    time: SCAN (never KEYS, which blocks Redis) and one pipelined read a batch.
    Raises UsageUnreadable when Redis fails."""
    label = day.isoformat()
    if not settings.REDIS_URL:
        with _local_lock:
            counted = [(user_id, dict(row)) for (user_id, on), row in _local_usage.items() if on == label and row]
        for start in range(0, len(counted), batch):
            yield counted[start : start + batch]
        return
    import redis

    client = _redis(settings.REDIS_URL)
    head, tail = f"{_key_prefix()}:", f":usage:{label}"
    names: list[bytes] = []
    try:
        for name in client.scan_iter(match=f"{_redis_glob(head)}*{tail}", count=1000):
            names.append(name)
            if len(names) == batch:
                yield _read_usage_hashes(client, names, head, tail)
                names = []
        if names:
            yield _read_usage_hashes(client, names, head, tail)
    except (redis.RedisError, OSError) as exc:
        raise UsageUnreadable(f"Redis unreachable ({type(exc).__name__}) while reading usage") from exc


def _redis_glob(text: str) -> str:
    """``text`` with Redis's glob characters escaped, so a key prefix matches only itself."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _read_usage_hashes(client, names: list[bytes], head: str, tail: str) -> list[tuple[int, dict[str, int]]]:
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(name)
    result = []
    for name, row in zip(names, pipe.execute(), strict=True):
        user_id = name.decode()[len(head) : -len(tail)]
        # Another namespace's keys can match the glob ("accrual:api:x:…"): only whole user ids.
        if user_id.isdigit() and row:
            result.append((int(user_id), _usage_row(row)))
    return result


def _usage_row(row: dict[bytes, bytes]) -> dict[str, int]:
    """A day's usage hash as Redis returns it: key prefix → requests."""
    return {field.decode(): int(count) for field, count in row.items()}
