"""Print which mode Accrual runs in: embedded default or full mode, and its services."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from apps.tokens.data_set import data_set_refusal
from apps.tokens.models import DataSet


class Command(BaseCommand):
    help = "Say which mode (embedded default or full) and which services this configuration uses."

    def handle(self, *args, **options):
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        full = bool(settings.DATABASE_URL and settings.REDIS_URL)
        mode = "full mode" if full else "embedded default"
        self.stdout.write(self.style.SUCCESS(f"Accrual runs in {mode} ({settings.DJANGO_ENV})"))
        self.stdout.write(f"  database: {engine}")
        self.stdout.write(f"  cache:    {'redis' if settings.REDIS_URL else 'locmem'}")
        tasks = "run eagerly in-process" if settings.CELERY_TASK_ALWAYS_EAGER else "sent to Celery workers"
        self.stdout.write(f"  tasks:    {tasks}")
        self.stdout.write(f"  email:    {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]}")
        self.stdout.write(f"  data:     {settings.ACCRUAL_DATA_MODE} providers")
        try:
            held, refusal = DataSet.objects.first(), data_set_refusal(offered=settings.ACCRUAL_DATA_MODE)
        except DatabaseError:  # describing a configuration must not need a migrated database
            self.stdout.write("  holds:    — (database not migrated yet)")
            return
        self.stdout.write(f"  holds:    {held}" if held else "  holds:    no data set yet")
        if refusal:
            self.stdout.write(self.style.WARNING(f"  {refusal}"))
        # createsuperuser makes an administrator; an editor has only the Editors group's rights.
        self.stdout.write("  editors:  python manage.py create_editor you@example.com  (then log in at /admin/)")
