"""Login throttling fails closed: when the cache that holds the rate limits (Redis in full
mode) is unreachable, account pages answer 503 instead of letting unthrottled attempts in
(or showing a 500)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, ConnectionInterrupted)
RETRY_AFTER_SECONDS = 60


class CacheOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CACHE_ERRORS):
            return None
        logger.error("cache unreachable on %s %s; refusing: %s", request.method, request.path, exception)
        # Rendered without the request: the site's context processors read the cache too.
        response = HttpResponse(render_to_string("accounts/unavailable.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
