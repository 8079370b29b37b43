"""Under /api/: a key in the query string is refused before any view runs; the RateLimit
headers go on every response the quota saw; every error, Django's own 404/405/500 too, is a
problem (application/problem+json)."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from .keys import KEY_PREFIX, PREFIX_RANDOM_LENGTH
from .problems import PROBLEM_CONTENT_TYPE, problem_response
from .throttling import REQUEST_ATTRIBUTE, ratelimit_headers

API_PATH = "/api/"
# Not "token": it names a crypto token in this API's filters.
RESPONSE_FORMATS = {"json", "csv"}
KEY_PARAMETERS = {"api_key", "apikey", "api-key", "key", "access_token", "x-api-key"}
KEY_LIKE = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9]{{{PREFIX_RANDOM_LENGTH}}}")


def key_in_query_string(request: HttpRequest) -> bool:
    for name, values in request.GET.lists():
        if name.lower() in KEY_PARAMETERS or any(KEY_LIKE.search(value) for value in values):
            return True
    return False


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PATH):
            return self.get_response(request)
        if key_in_query_string(request):
            return problem_response(
                400,
                code="key-in-query-string",
                detail="API keys are not accepted in the URL; send it in the X-API-Key or Authorization header.",
            )
        fmt = request.GET.get("format")
        if fmt is not None and fmt not in RESPONSE_FORMATS and not request.path.endswith("/schema/"):
            # Else an empty one passes for the default and any other is a bare 404.
            return problem_response(
                400, code="invalid", detail="Unknown format.", errors={"format": "One of: json, csv."}
            )
        response = self.get_response(request)
        decision = getattr(request, REQUEST_ATTRIBUTE, None)
        if decision is not None:
            for name, value in ratelimit_headers(decision).items():
                response[name] = value
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
            status = response.status_code
            converted = problem_response(status, code=HTTPStatus(status).phrase.lower().replace(" ", "-"), detail="")
            for name, value in response.items():
                if name.lower() not in {"content-type", "content-length"}:
                    converted[name] = value
            return converted
        return response
