"""Reads shared by pages and the API, with the joins that keep query counts flat."""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt

from django.conf import settings
from django.core.cache import cache

from .models import SyncRun


@dataclass(frozen=True)
class DataStatus:
    mode: str
    as_of: dt.datetime | None


DATA_STATUS_CACHE_KEY = "tokens:data-status"


def data_status() -> DataStatus:
    """What the site shows: sample or live data, and as of when (cached; cleared by ingestion)."""
    status = cache.get(DATA_STATUS_CACHE_KEY)
    if status is None:
        last = (
            SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED)
            .order_by("-started_at")
            .values_list("provider", "started_at")
            .first()
        )
        mode = "sample" if (last and last[0] == "sample") or (not last and settings.ACCRUAL_DATA_MODE == "sample") else "live"
        status = DataStatus(mode=mode, as_of=last[1] if last else None)
        cache.set(DATA_STATUS_CACHE_KEY, status, 60)
    return status
