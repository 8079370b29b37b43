"""Compute the rated universe's stored days again: after history changed further back than
an update looks (a token deleted, prices revised by hand), or to check a deployment."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from apps.ratings.universe_days import EVERY_DAY, universe_days_update


class Command(BaseCommand):
    help = "Compute the rated universe's days again, from --since (default: every day). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="First day to compute again, YYYY-MM-DD (default: every day)")

    def handle(self, *args, since: str | None, **options):
        try:
            first = dt.date.fromisoformat(since) if since else EVERY_DAY
        except ValueError as exc:
            raise CommandError(f"Not a date (YYYY-MM-DD): {since!r}") from exc
        began = time.monotonic()
        days = universe_days_update(since=first)
        self.stdout.write(
            self.style.SUCCESS(f"Stored {days} days of the rated universe in {time.monotonic() - began:.1f} s.")
        )
