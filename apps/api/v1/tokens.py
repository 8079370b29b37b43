"""Tokens: the screener list (latest, or as of a day), a token with its accrual policies, its
daily prices and revenue, its period reports and accrual events, and the bulk file of a day."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from django.db.models import Prefetch
from django.http import Http404, HttpResponseNotModified, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tokens.models import AccrualPolicy, Category, MetricSnapshot, PriceDay, RevenueDay, Token
from apps.tokens.selectors import SCREENER_RANGE_FIELDS, SCREENER_SORTS, data_status, screener_tokens
from apps.tokens.token_page import token_events, token_reports

from . import serializers as s
from .base import (
    AS_OF,
    END,
    FORMAT,
    START,
    ApiList,
    ApiView,
    DailyList,
    parse_chain,
    parse_choice,
    parse_day,
    parse_ordering,
)
from .selectors import snapshots_as_of

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


@extend_schema(summary="Daily prices", parameters=[START, END, FORMAT])
class PriceDays(DailyList):
    model = PriceDay
    serializer_class = s.PriceDaySerializer


@extend_schema(summary="Daily fees and revenue", parameters=[START, END, FORMAT])
class RevenueDays(DailyList):
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
