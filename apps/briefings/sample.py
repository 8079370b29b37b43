"""The sample data set's briefings: one for each of the sample's last rated days, marked
sample, so the archive has content. Their email is not sent (sample mode's email goes to
the console when the schedule sends one)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Max

from apps.ratings.models import Rating
from apps.ratings.selectors import VERSION

from . import services
from .models import Briefing

SAMPLE_DAYS = 5


def sample_briefings_load(*, days: int = SAMPLE_DAYS) -> int:
    """Build (or rebuild) the briefings of the sample's last ``days`` rated days, ready
    and marked sample; returns how many."""
    last = Rating.objects.filter(methodology_version=VERSION).aggregate(last=Max("date"))["last"]
    if last is None:
        return 0
    built = 0
    for offset in range(days - 1, -1, -1):
        day = last - dt.timedelta(days=offset)
        # Stamped at the day's briefing time, as the schedule would have built it.
        briefing = services.briefing_build(day=day, now=services.at_time(day, settings.BRIEFING_TIME_UTC))
        Briefing.objects.filter(pk=briefing.pk, status=Briefing.Status.DRAFT).update(status=Briefing.Status.READY)
        built += 1
    return built
