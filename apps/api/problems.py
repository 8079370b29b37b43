"""One error format for the whole API: problem details (RFC 9457, application/problem+json).
``type`` is ``about:blank`` (so ``title`` is the status phrase); ``code`` says which problem."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem(status: int, *, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    } | extra


def problem_response(status: int, *, code: str, detail: str, **extra: Any) -> JsonResponse:
    """A problem outside DRF (middleware, Django's own 404/405/500)."""
    return JsonResponse(
        problem(status, code=code, detail=detail, **extra), status=status, content_type=PROBLEM_CONTENT_TYPE
    )


def problem_exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF's handler (it sets WWW-Authenticate and Retry-After) with a problem body."""
    response = exception_handler(exc, context)
    if response is None:
        return None  # a 500: Django answers, and ApiMiddleware turns it into a problem
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, dict | list):
        detail, code = "The request has invalid fields.", "invalid"
        extra["errors"] = response.data
    elif isinstance(exc, Http404):  # a view's own message says what was not found
        detail, code = str(exc) or HTTPStatus.NOT_FOUND.phrase, "not_found"
    else:
        detail = str(getattr(exc, "detail", "")) or HTTPStatus(response.status_code).phrase
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
    response.data = problem(response.status_code, code=code.replace("_", "-"), detail=detail, **extra)
    response.content_type = PROBLEM_CONTENT_TYPE
    if (request := context.get("request")) is not None:
        # A problem is JSON whatever format the caller asked for (?format=csv included).
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    return response
