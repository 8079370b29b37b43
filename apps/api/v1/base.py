"""The API's shared conventions: parsing query parameters (a bad one is a 400 with a message),
the common schema parameters, and the read views' base (cache reads, kept pages, ETag/304)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from apps.tokens.models import Chain, Token
from apps.tokens.selectors import DATA_STATUS_CACHE_KEY, data_status

from ..authentication import key_cache_keys
from .kept_pages import KeptPage, page_find, page_keep, process_pages

MAX_RANGE_DAYS = 3660


def parse_day(value: str | None, name: str) -> dt.date | None:
    if value is None:  # absent; present but empty is not a date
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: f"{value!r} is not a date: use YYYY-MM-DD."}) from None


def parse_ordering(value: str | None, allowed, default: str) -> tuple[str, str]:
    """``ordering=market_cap`` (ascending) or ``-market_cap`` (descending)."""
    if value is None:
        return default, "desc"
    key = value.removeprefix("-")
    if key not in allowed:
        raise ValidationError({"ordering": f"Unknown ordering {key!r}; one of: {', '.join(sorted(allowed))}."})
    return key, "desc" if value.startswith("-") else "asc"


def parse_choice(value: str | None, allowed, name: str) -> str:
    if value is not None and value not in allowed:
        raise ValidationError({name: f"Unknown {name} {value!r}; one of: {', '.join(sorted(allowed))}."})
    return value or ""


def parse_chain(value: str) -> str:
    if value and not Chain.objects.filter(slug=value).exists():
        raise ValidationError({"chain": f"No chain with the slug {value!r}."})
    return value


AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATE,
    description=(
        "Point in time (YYYY-MM-DD): what the API would have said that day — "
        "the figures or rating dated that day or the newest before it."
    ),
)
START = OpenApiParameter(
    "start", OpenApiTypes.DATE, description="First day (YYYY-MM-DD); default: 365 days before end."
)
END = OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD); default: today (UTC).")
FORMAT = OpenApiParameter("format", str, enum=["json", "csv"], description="csv for CSV (or send Accept: text/csv).")


class ApiView(GenericAPIView):
    """ETag on every 200; If-None-Match → 304 with no body. A header says when the data set is sample.

    What a request reads from the cache (its key's entry, the data status, a list's kept page)
    is read in one round trip, before the key is checked (``cache_reads``)."""

    page_key: str | None = None  # a list's kept page (ApiList, kept_pages)
    held_page: KeptPage | None = None  # this process's copy of it

    def perform_authentication(self, request):
        # After content negotiation, which the kept page's key needs; before the key is checked.
        self.page_key = self.kept_page_key(request)
        keys = [DATA_STATUS_CACHE_KEY, *key_cache_keys(request)]
        if self.page_key is not None:
            self.held_page = process_pages.get(self.page_key)
            if self.held_page is None:
                keys.append(self.page_key)
        request.cache_reads = cache.get_many(keys)
        super().perform_authentication(request)

    def kept_page_key(self, request) -> str | None:
        return None

    @functools.cached_property
    def data_status(self):
        """Read once a request (from ``cache_reads`` when they hold it)."""
        status = getattr(self.request, "cache_reads", {}).get(DATA_STATUS_CACHE_KEY)
        return status if status is not None else data_status()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "sample": self.data_status.mode == "sample"}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for name, value in request.query_params.items():
            if "\x00" in name or "\x00" in value:  # PostgreSQL refuses NUL in text
                raise ValidationError({name: "Contains a NUL character."})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])  # JSON or CSV by the Accept header
        # Only reads: a write's 200 must never turn into a 304 (its change is already made).
        if isinstance(response, Response) and response.status_code == 200 and request.method in ("GET", "HEAD"):
            response.render()
            response["ETag"] = f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
            if self.page_key:
                headers = [(h, v) for h, v in response.items() if h.lower() != "content-length"]
                page_keep(self.page_key, self.data_status.generation, response.content, headers)
        if response.status_code == 200 and response.has_header("ETag"):
            wanted = {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}
            if response["ETag"] in wanted or "*" in wanted:
                # The 304 keeps the 200's headers (ETag, Vary, quota headers), not its body.
                not_modified = HttpResponseNotModified()
                for header, value in response.items():
                    if header.lower() not in {"content-type", "content-length"}:
                        not_modified[header] = value
                response = not_modified
        if self.data_status.mode == "sample":
            response["Accrual-Data-Set"] = "sample"
        return response


class ApiList(ListModelMixin, ApiView):
    """A list's rendered page is kept (``kept_pages``) for its format and whole URL."""

    def kept_page_key(self, request) -> str | None:
        if request.method != "GET":
            return None
        # The whole URL: the page's links name its scheme and host.
        url = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()
        return f"api:v1:page:{request.accepted_media_type}:{url}"

    def get(self, request, *args, **kwargs):
        page = page_find(
            self.page_key,
            self.data_status.generation,
            held=self.held_page,
            shared=request.cache_reads.get(self.page_key),
            read=self.held_page is None,
        )
        if page is None:
            return self.list(request, *args, **kwargs)
        self.page_key = None  # nothing new to keep
        response = HttpResponse(page.content)
        for header, value in page.headers:
            response[header] = value
        return response


def token_or_404(slug: str) -> Token:
    try:
        return Token.objects.get(slug=slug)
    except Token.DoesNotExist:
        raise Http404(f"No token with the slug {slug!r}.") from None


class DailyList(ApiList):
    model = None

    def get_queryset(self):
        token = token_or_404(self.kwargs["slug"])
        params = self.request.query_params
        end = parse_day(params.get("end"), "end") or dt.datetime.now(dt.UTC).date()
        start = parse_day(params.get("start"), "start") or max(
            end, dt.date(1, 1, 1) + dt.timedelta(days=365)
        ) - dt.timedelta(days=365)
        if start > end:
            raise ValidationError({"start": "The start is after the end."})
        if (end - start).days > MAX_RANGE_DAYS:
            raise ValidationError({"start": f"At most {MAX_RANGE_DAYS} days at a time."})
        return self.model.objects.filter(token=token, date__range=(start, end)).order_by("date")
