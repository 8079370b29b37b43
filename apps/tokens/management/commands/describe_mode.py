"""Print which mode Accrual runs in: embedded default or full mode, and its services."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand


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
        self.stdout.write(f"  data:     {settings.ACCRUAL_DATA_MODE}")
