"""Rate a range of days (default: every day with snapshots), in order, with a progress bar."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.ratings.services import ratings_backfill
from apps.tokens.models import MetricSnapshot, Token


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Compute (or recompute: it is idempotent) the ratings of every day from --start to --end."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="First day, YYYY-MM-DD (default: the first day with snapshots)")
        parser.add_argument("--end", help="Last day, YYYY-MM-DD (default: the newest day with snapshots)")
        parser.add_argument("--tokens", help="Comma-separated slugs whose ratings are written (default: all)")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar")

    def handle(self, *args, start, end, tokens, no_progress, **options):
        first = _date(start) if start else None
        last = _date(end) if end else None
        if first is None or last is None:
            newest = MetricSnapshot.objects.order_by("-date").values_list("date", flat=True).first()
            oldest = MetricSnapshot.objects.order_by("date").values_list("date", flat=True).first()
            first, last = first or oldest, last or newest
        if first is None or last is None:
            self.stdout.write("No snapshots yet: nothing to rate.")
            return
        if first > last:
            raise CommandError(f"--start {first} is after --end {last}")
        token_ids = None
        if tokens:
            slugs = [s.strip() for s in tokens.split(",") if s.strip()]
            found = dict(Token.objects.filter(slug__in=slugs).values_list("slug", "pk"))
            unknown = sorted(set(slugs) - set(found))
            if unknown:
                raise CommandError(f"Unknown token slugs: {', '.join(unknown)}")
            token_ids = list(found.values())
        days = (last - first).days + 1
        began = time.monotonic()
        with tqdm(total=days, desc="ratings", unit="day", file=self.stderr._out, disable=no_progress) as bar:
            result = ratings_backfill(start=first, end=last, token_ids=token_ids, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rated {result.days} days from {first} to {last}: {result.rated} token-days, "
                f"{result.written} ratings written, {result.changes} events, in {time.monotonic() - began:.1f} s."
            )
        )
