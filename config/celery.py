"""The Celery app. In the embedded default (no REDIS_URL) tasks run eagerly in-process."""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("accrual")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def freeze_startup_objects(**_kwargs) -> None:
    """A pool process starts with Django, Celery and the apps loaded: move those objects out
    of the garbage collector's sight (they live as long as the process), so the full
    collections a refresh's hundreds of thousands of new objects trigger scan only what the
    task made (Python's gc.freeze, as recommended for forking servers)."""
    gc.freeze()
