"""Read endpoints of /api/v1/: thin views over the site's selectors. Every response carries
an ETag (a digest of its body) and answers a matching If-None-Match with 304; every list
renders as CSV too. Bad input is a 400 and an unknown slug a 404, with a message."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.editorial.models import Revision, RevisionEntry
from apps.editorial.selectors import public_lists
from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import Rating
from apps.ratings.selectors import BANDS, GRADE_FIELDS, LEADERBOARD_SORTS, NOT_RATED_FILTER, VERSION, leaderboard
from apps.tokens.models import AccrualPolicy, Category, Chain, MetricSnapshot, PriceDay, RevenueDay, Token
from apps.tokens.selectors import (
    DATA_STATUS_CACHE_KEY,
    SCREENER_RANGE_FIELDS,
    SCREENER_SORTS,
    data_status,
    screener_tokens,
)
from apps.tokens.token_page import token_events, token_reports

from ..authentication import key_cache_keys
from . import serializers as s
from .kept_pages import KeptPage, page_find, page_keep, process_pages
from .selectors import ratings_as_of_day, snapshots_as_of, token_rating

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


def _token(slug: str) -> Token:
    try:
        return Token.objects.get(slug=slug)
    except Token.DoesNotExist:
        raise Http404(f"No token with the slug {slug!r}.") from None


RANGE_PARAMS = [
    OpenApiParameter(
        f"{name}_{end}",
        {"type": "number", "minimum": -(10**39), "maximum": 10**39},
        description=f"{'Lowest' if end == 'min' else 'Highest'} {name} (inclusive). {s.FIGURE_HELP.get(name, '')}",
    )
    for name in sorted(SCREENER_RANGE_FIELDS)
    for end in ("min", "max")
]


@extend_schema(
    summary="Tokens",
    parameters=[
        OpenApiParameter("search", str, description="Part of the name, symbol or slug."),
        OpenApiParameter("category", str, enum=Category.values, description="Only this category."),
        OpenApiParameter("chain", str, description="Only tokens on this chain (its slug)."),
        OpenApiParameter(
            "ordering",
            str,
            enum=[*SCREENER_SORTS, *(f"-{key}" for key in SCREENER_SORTS)],
            description=(
                f"Sort key, '-' for descending: {', '.join(SCREENER_SORTS)}. "
                "Default -market_cap; missing figures last, slug breaks ties."
            ),
        ),
        AS_OF,
        FORMAT,
        *RANGE_PARAMS,
    ],
)
class TokenList(ApiList):
    serializer_class = s.TokenSerializer

    def get_queryset(self):
        params = self.request.query_params
        sort, direction = parse_ordering(params.get("ordering"), SCREENER_SORTS, "market_cap")
        ranges = {}
        for name in SCREENER_RANGE_FIELDS:
            bounds = []
            for end in ("min", "max"):
                raw = params.get(f"{name}_{end}")
                try:
                    bounds.append(Decimal(raw) if raw is not None else None)
                except InvalidOperation:
                    raise ValidationError({f"{name}_{end}": f"{raw!r} is not a number."}) from None
                if bounds[-1] is not None and not (
                    bounds[-1].is_finite() and -1000 < bounds[-1].adjusted() < 40 and abs(bounds[-1]) <= 10**39
                ):
                    raise ValidationError({f"{name}_{end}": "Must be a finite number from -10^39 to 10^39."})
            if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
                raise ValidationError({name: "The minimum is above the maximum."})
            if bounds != [None, None]:
                ranges[name] = tuple(bounds)
        filters = {
            "q": params.get("search", "")[:100],
            "category": parse_choice(params.get("category"), Category.values, "category"),
            "chain": parse_chain(params.get("chain", "")),
            "ranges": ranges,
            "sort": sort,
            "direction": direction,
        }
        self.day = parse_day(params.get("as_of"), "as_of")
        if self.day is not None:
            return snapshots_as_of(day=self.day, **filters)
        return screener_tokens(**filters)

    def paginate_queryset(self, queryset):
        """Each row as a token carrying the snapshot it shows (the latest, or as of the day)."""
        page = super().paginate_queryset(queryset)
        if self.day is not None:
            for snapshot in page:
                snapshot.token.api_snapshot = snapshot
            return [snapshot.token for snapshot in page]
        for token in page:
            token.api_snapshot = token.latest_snapshot
        return page


@extend_schema(summary="A token, with its accrual policy", parameters=[AS_OF])
class TokenDetail(ApiView):
    serializer_class = s.TokenDetailSerializer
    pagination_class = None

    def get(self, request, slug: str):
        token = (
            Token.objects.select_related("latest_snapshot")
            .prefetch_related(
                "chains", Prefetch("accrual_policies", AccrualPolicy.objects.order_by("-since", "mechanism"))
            )
            .filter(slug=slug)
            .first()
        )
        if token is None:
            raise Http404(f"No token with the slug {slug!r}.")
        day = parse_day(request.query_params.get("as_of"), "as_of")
        if day is None:
            token.api_snapshot = token.latest_snapshot
        else:
            token.api_snapshot = MetricSnapshot.objects.filter(token=token, date__lte=day).order_by("-date").first()
            if token.api_snapshot is None:
                raise Http404(f"No figures for {slug!r} on or before {day}.")
        return Response(self.get_serializer(token).data)


class _DailyList(ApiList):
    model = None

    def get_queryset(self):
        token = _token(self.kwargs["slug"])
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


@extend_schema(summary="Daily prices", parameters=[START, END, FORMAT])
class PriceDays(_DailyList):
    model = PriceDay
    serializer_class = s.PriceDaySerializer


@extend_schema(summary="Daily fees and revenue", parameters=[START, END, FORMAT])
class RevenueDays(_DailyList):
    model = RevenueDay
    serializer_class = s.RevenueDaySerializer


class _TokenList(ApiList):
    def get_queryset(self):
        slug = self.kwargs["slug"]
        try:
            return self.rows(slug)
        except Http404:
            raise Http404(f"No token with the slug {slug!r}.") from None


@extend_schema(summary="Period revenue reports", parameters=[FORMAT])
class Reports(_TokenList):
    serializer_class = s.RevenueReportSerializer

    def rows(self, slug):
        return token_reports(slug)[1]


@extend_schema(summary="Buybacks, burns and distributions", parameters=[FORMAT])
class Events(_TokenList):
    serializer_class = s.AccrualEventSerializer

    def rows(self, slug):
        return token_events(slug)[1]


@extend_schema(
    summary="Ratings (latest, or as of a day)",
    parameters=[
        OpenApiParameter(
            "grade",
            str,
            enum=list(GRADE_FIELDS),
            description="Which grade ranks and bands: investor (default) or trader.",
        ),
        OpenApiParameter("category", str, enum=Category.values, description="Only this category."),
        OpenApiParameter(
            "band", str, enum=[*BANDS, NOT_RATED_FILTER], description="Only this grade letter (nr: not rated)."
        ),
        OpenApiParameter(
            "ordering",
            str,
            enum=[*LEADERBOARD_SORTS, *(f"-{key}" for key in LEADERBOARD_SORTS)],
            description=(
                f"Sort key, '-' for descending: {', '.join(LEADERBOARD_SORTS)}. Default: the grade's score, best first."
            ),
        ),
        AS_OF,
        FORMAT,
    ],
)
class RatingList(ApiList):
    serializer_class = s.RatingSerializer

    def get_queryset(self):
        params = self.request.query_params
        grade = parse_choice(params.get("grade"), GRADE_FIELDS, "grade") or "investor"
        sort, direction = parse_ordering(params.get("ordering"), LEADERBOARD_SORTS, "")
        filters = {
            "grade": grade,
            "category": parse_choice(params.get("category"), Category.values, "category"),
            "band": parse_choice(params.get("band"), [*BANDS, NOT_RATED_FILTER], "band"),
            "sort": sort,
            "direction": direction,
        }
        day = parse_day(params.get("as_of"), "as_of")
        if day is not None:
            return ratings_as_of_day(day=day, **filters)
        return leaderboard(**filters).select_related("token").defer(None)


@extend_schema(summary="A token's rating with its components and inputs", parameters=[AS_OF])
class TokenRating(ApiView):
    serializer_class = s.RatingDetailSerializer
    pagination_class = None

    def get(self, request, slug: str):
        token = _token(slug)
        day = parse_day(request.query_params.get("as_of"), "as_of")
        rating = token_rating(token.pk, day=day)
        if rating is None:
            raise Http404(f"{slug!r} has no rating" + (f" on or before {day}." if day else "."))
        rating.token = token
        return Response(self.get_serializer(rating).data)


@extend_schema(summary="A token's rating history", parameters=[START, END, FORMAT])
class RatingHistory(_DailyList):
    model = Rating
    serializer_class = s.RatingSerializer

    def get_queryset(self):
        return super().get_queryset().filter(methodology_version=VERSION).select_related("token")


class MethodologyView(ApiView):
    serializer_class = s.MethodologySerializer
    pagination_class = None

    @extend_schema(summary="The ratings methodology")
    def get(self, request):
        """The methodology the ratings use, as data: inputs, components and weights, grades, bands, signal."""
        return Response(self.get_serializer(METHODOLOGY).data)


def _lists():
    entries = RevisionEntry.objects.select_related("token").order_by("rank")
    revisions = Revision.objects.prefetch_related(Prefetch("entries", queryset=entries)).order_by("number")
    return public_lists().prefetch_related(Prefetch("revisions", queryset=revisions))


@extend_schema(summary="Top 10 lists with their revisions", parameters=[FORMAT])
class TopLists(ApiList):
    serializer_class = s.TopListSerializer

    def get_queryset(self):
        return _lists().order_by("slug")


@extend_schema(summary="A Top 10 list with its revisions")
class TopListDetail(ApiView):
    serializer_class = s.TopListSerializer
    pagination_class = None

    def get(self, request, slug: str):
        top_list = _lists().filter(slug=slug).first()
        if top_list is None:
            raise Http404(f"No published list with the slug {slug!r}.")
        return Response(self.get_serializer(top_list).data)


BULK_COLUMNS = ("slug", "symbol", "name", "category", "coingecko_id", "defillama_slug", "date")
BULK_FIGURES = (*s.PRICE_FIGURES, *s.REVENUE_FIGURES, *s.VALUATION_FIGURES)
BULK_FRESHNESS = ("price_as_of", "price_source", "revenue_as_of", "revenue_source")


def bulk_rows(day: dt.date):
    """The bulk file's lines: a header, then every token's snapshot as of ``day``, by slug."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*BULK_COLUMNS, *BULK_FIGURES, *BULK_FRESHNESS))
    yield out.getvalue()
    fields = [f"token__{name}" for name in BULK_COLUMNS[:-1]] + ["date", *BULK_FIGURES, *BULK_FRESHNESS]
    rows = snapshots_as_of(day=day, sort="name", direction="asc").order_by("token__slug").values_list(*fields)
    for row in rows.iterator(chunk_size=2000):
        out.seek(0)
        out.truncate()
        writer.writerow(["" if value is None else value for value in row])
        yield out.getvalue()


class BulkTokens(APIView):
    @extend_schema(
        summary="Every token's figures for a day, as one CSV file",
        parameters=[OpenApiParameter("day", OpenApiTypes.DATE, OpenApiParameter.PATH, description="YYYY-MM-DD.")],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, day: str):
        """Streamed: one line per token, its snapshot dated that day or the newest before it."""
        date = parse_day(day, "day")
        if date > dt.datetime.now(dt.UTC).date():
            raise Http404("No file for a day that has not happened yet.")
        status = data_status()
        # The file changes only with the data's generation (a refresh, an editor's save).
        etag = f'"tokens-{date}-{status.generation}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            response = StreamingHttpResponse(bulk_rows(date), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="tokens-{date}.csv"'
        response["ETag"] = etag
        if status.mode == "sample":
            response["Accrual-Data-Set"] = "sample"
        return response


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI from the sidecar's static files, its scripts carrying the page's CSP nonce."""

    template_name = "api/swagger_ui.html"
    url_name = "api_v1:schema"
