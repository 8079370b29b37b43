"""Per-key daily API usage: counted in the quota store (``quotas``: Redis or this process,
35 days, lost on a flush), copied into the database (KeyUsageDay) every ten minutes by
``usage_record``, and read back as the larger of the two."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Sum

from . import quotas
from .models import APIKey, KeyUsageDay

UPSERT_ROWS = 500  # rows a statement: 1,500 parameters, well within SQLite's and PostgreSQL's limits


@dataclass(frozen=True)
class UsageRecorded:
    day: dt.date
    keys: int  # keys with requests counted that day
    raised: int  # rows inserted or raised (0 when nothing changed since the last run)
    unknown_prefixes: int  # counted prefixes of no key (deleted) or of another account


def _upsert(rows: list[tuple[str, dt.date, int]]) -> int:
    """Insert (key id, date, requests) rows; an existing row keeps the larger count, so a Redis
    flushed mid-day never lowers a recorded day. Returns the rows inserted or raised."""
    table = connection.ops.quote_name(KeyUsageDay._meta.db_table)
    larger = "GREATEST" if connection.vendor == "postgresql" else "MAX"  # SQLite's two-argument MAX
    changed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_ROWS):
            chunk = rows[start : start + UPSERT_ROWS]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (key_id, date, requests) VALUES {values} "
                f"ON CONFLICT (key_id, date) DO UPDATE SET requests = {larger}({table}.requests, excluded.requests) "
                f"WHERE {table}.requests < excluded.requests",
                [value for row in chunk for value in row],
            )
            changed += cursor.rowcount
    return changed


def usage_record(*, day: dt.date) -> UsageRecorded:
    """Copy ``day``'s counts from the quota store into KeyUsageDay. Idempotent: a second run
    changes nothing. Per batch of accounts: one query for their keys, one upsert."""
    keys = raised = unknown = 0
    for batch in quotas.counted_usage_on(day=day):
        prefixes = {prefix for _, counts in batch for prefix in counts}
        owners = {
            prefix: (key_id, user_id)
            for prefix, key_id, user_id in APIKey.objects.filter(prefix__in=prefixes).values_list(
                "prefix", "id", "user_id"
            )
        }
        rows = []
        for user_id, counts in batch:
            for prefix, requests in counts.items():
                key_id, owner_id = owners.get(prefix, (None, None))
                if owner_id != user_id:
                    unknown += 1
                elif requests > 0:
                    rows.append((key_id, day, requests))
        keys += len(rows)
        if rows:
            raised += _upsert(rows)
    return UsageRecorded(day=day, keys=keys, raised=raised, unknown_prefixes=unknown)


def requests_recorded(*, user_id: int, first: dt.date, last: dt.date) -> int:
    """Requests recorded for all the account's keys from ``first`` to ``last`` (one query):
    what the quotas seed a month counter with."""
    total = KeyUsageDay.objects.filter(key__user_id=user_id, date__range=(first, last)).aggregate(
        total=Sum("requests")
    )["total"]
    return total or 0


def usage_counts(*, user_id: int, days: list[dt.date]) -> dict[dt.date, dict[str, int]]:
    """Requests per day and key prefix, for ``days``: the larger of what the database recorded
    and what the quota store counted (newer than the last recording, or the only copy when the
    database has none). One query and at most one Redis round trip, however many keys or days."""
    if not days:
        return {}
    counted = quotas.counted_usage(user_id=user_id, days=days)
    result: dict[dt.date, dict[str, int]] = {day: dict(counted.get(day, {})) for day in days}
    recorded = KeyUsageDay.objects.filter(key__user_id=user_id, date__range=(min(days), max(days))).values_list(
        "date", "key__prefix", "requests"
    )
    for date, prefix, requests in recorded:
        if date in result:
            result[date][prefix] = max(result[date].get(prefix, 0), requests)
    return result
