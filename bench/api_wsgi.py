"""gunicorn's application for bench_api: the site's own, plus one bare Django view at
/bench/ceiling/ answering the API's token page from memory (the file BENCH_API_PAYLOAD), through
the same middleware, so the ceiling is Django's cost of a request, not the API's work."""

from __future__ import annotations

import os
from functools import cache

from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path

from config.wsgi import application  # noqa: F401  (sets Django up; gunicorn serves it)


@cache
def _payload() -> bytes:
    with open(os.environ["BENCH_API_PAYLOAD"], "rb") as file:
        return file.read()


def ceiling(request):
    return HttpResponse(_payload(), content_type="application/json")


urlpatterns = [path("bench/ceiling/", ceiling), path("", include(settings.ROOT_URLCONF))]
settings.ROOT_URLCONF = __name__  # before the first request: the site's URLs stay as they are
