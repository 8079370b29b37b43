"""Evaluate the alert rules for a day now (what a worker runs after each refresh), then send
the immediate emails; ``--digest`` also sends the daily digest."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from apps.watchlists import alerts, evaluation


class Command(BaseCommand):
    help = "Evaluate alert rules for a day (default: the newest snapshot day) and send the emails due."

    def add_arguments(self, parser):
        parser.add_argument("--day", type=dt.date.fromisoformat, help="YYYY-MM-DD (default: the newest day)")
        parser.add_argument("--digest", action="store_true", help="Also send the daily digest emails now")

    def handle(self, *args, day: dt.date | None, digest: bool, **options):
        day = day or evaluation.newest_day()
        if day is None:
            raise CommandError("No snapshot yet: load or refresh data first.")
        result = evaluation.alerts_evaluate(day=day)
        sent = alerts.alerts_send_immediate()
        line = f"{day}: {result.matched} matches (each fires once); {sent} immediate emails sent"
        if digest:
            line += f"; {alerts.alerts_send_digest()} digest emails sent"
        self.stdout.write(self.style.SUCCESS(line))
