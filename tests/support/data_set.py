"""Setting which data set a test database holds, where a test needs one it did not load."""

from __future__ import annotations

from django.utils import timezone

from apps.tokens.models import DataSet


def hold(mode: str) -> None:
    """Record that the database holds ``mode`` data. Tests of the live clients load the
    recorded sample (a convenient set of facts) and then take it as live data, which their
    refreshes may then update; a database that says it holds the sample would refuse them."""
    DataSet.objects.update_or_create(pk=1, defaults={"mode": mode, "recorded_at": timezone.now()})
