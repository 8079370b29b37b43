"""Plain-HTTP helpers for load tests, importable by spawned processes (no Django here)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request


def get(url: str, key: str | None) -> tuple[int, dict[str, str]]:
    """Status and headers of a GET with ``key`` in X-API-Key (if any)."""
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def fire(url: str, key: str, count: int, start_at: float) -> list[tuple[int, dict[str, str]]]:
    """Wait for ``start_at`` (unix time), then send ``count`` GETs one after another."""
    time.sleep(max(0.0, start_at - time.time()))
    return [get(url, key) for _ in range(count)]
