"""Ratings: the leaderboard (latest, or as of a day), a token's rating with its components and
inputs, its rating history, and the methodology as data; with their serializers."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from apps.ratings.explain import explain
from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import Rating
from apps.ratings.selectors import BANDS, GRADE_FIELDS, LEADERBOARD_SORTS, NOT_RATED_FILTER, VERSION, leaderboard
from apps.tokens.models import Category, Source
from apps.tokens.selectors import is_stale

from .base import (
    AS_OF,
    END,
    FORMAT,
    START,
    ApiList,
    ApiView,
    DailyList,
    parse_choice,
    parse_day,
    parse_ordering,
    token_or_404,
)
from .selectors import ratings_as_of_day, token_rating
from .serializers import TokenRefSerializer

RATING_HELP = {
    "date": "The day the rating is for.",
    "methodology_version": "The methodology version that graded it (see /api/v1/methodology/).",
    "investor_score": "Investor score, 0–100: revenue, value accrual, valuation and risk.",
    "investor_grade": "Investor grade A–E; empty: not rated.",
    "investor_reason": "Why there is no Investor grade, when there is none.",
    "trader_score": "Trader score, 0–100: momentum and valuation.",
    "trader_grade": "Trader grade A–E; empty: not rated.",
    "trader_reason": "Why there is no Trader grade, when there is none.",
    "signal": "bullish, neutral or bearish (empty: none), from the Trader score with hysteresis.",
    "revenue_score": "Revenue component score, 0–100.",
    "value_accrual_score": "Value accrual component score, 0–100.",
    "valuation_score": "Valuation component score, 0–100.",
    "momentum_score": "Momentum component score, 0–100.",
    "risk_score": "Risk component score, 0–100.",
}
RATING_FIELDS = tuple(RATING_HELP)


class RatingSerializer(serializers.ModelSerializer):
    token = TokenRefSerializer(read_only=True, help_text="The token rated.")
    as_of = serializers.DateTimeField(source="computed_at", read_only=True, help_text="When the rating was computed.")
    source = serializers.SerializerMethodField(
        help_text="computed (Accrual's methodology grades the figures), or sample while the data set is the sample."
    )
    stale = serializers.SerializerMethodField(
        help_text="True when the rating was computed longer ago than the revenue freshness threshold."
    )

    class Meta:
        model = Rating
        fields = ("token", *RATING_FIELDS, "as_of", "source", "stale")
        extra_kwargs = {name: {"help_text": text} for name, text in RATING_HELP.items()}

    @extend_schema_field(OpenApiTypes.STR)
    def get_source(self, rating: Rating) -> str:
        return Source.SAMPLE.value if self.context.get("sample") else Source.COMPUTED.value

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_stale(self, rating: Rating) -> bool:
        return is_stale(rating.computed_at, kind="revenue", source=self.get_source(rating))


class InputSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The input's key in the methodology.")
    label = serializers.CharField(help_text="The input's name.")
    description = serializers.CharField(help_text="What the input is.")
    value = serializers.CharField(
        allow_null=True, source="raw", help_text="The input exactly as stored (null: missing)."
    )


class PartSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The sub-metric's key.")
    label = serializers.CharField(help_text="The sub-metric's name.")
    weight = serializers.IntegerField(help_text="Its weight within the component.")
    higher_is_better = serializers.BooleanField(help_text="Whether a higher value ranks better.")
    inputs = InputSerializer(many=True, help_text="The inputs it is computed from.")
    universe = serializers.DecimalField(
        max_digits=None, decimal_places=None, allow_null=True, help_text="Percentile rank in the rated universe, 0–100."
    )
    category = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        allow_null=True,
        help_text="Percentile rank in the token's category, 0–100 (null: too few peers).",
    )
    score = serializers.DecimalField(
        max_digits=None, decimal_places=None, allow_null=True, help_text="The sub-metric's blended score, 0–100."
    )
    universe_size = serializers.IntegerField(help_text="Tokens ranked in the universe.")
    category_size = serializers.IntegerField(help_text="Tokens ranked in the category.")


class ComponentSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The component's key.")
    label = serializers.CharField(help_text="The component's name.")
    description = serializers.CharField(help_text="What the component measures.")
    score = serializers.DecimalField(
        max_digits=None, decimal_places=None, allow_null=True, help_text="The component's score, 0–100."
    )
    weights = serializers.DictField(
        child=serializers.IntegerField(), help_text="Grade → this component's weight in it."
    )
    parts = PartSerializer(many=True, help_text="Its sub-metrics, their ranks and inputs.")


class RatingDetailSerializer(RatingSerializer):
    components = serializers.SerializerMethodField(help_text="Each component's score, sub-metrics and inputs.")
    inputs = serializers.JSONField(
        read_only=True, help_text="Every raw input by key, decimals as strings (null: missing)."
    )

    class Meta(RatingSerializer.Meta):
        fields = (*RatingSerializer.Meta.fields, "components", "inputs")

    @extend_schema_field(ComponentSerializer(many=True))
    def get_components(self, rating: Rating):
        return ComponentSerializer(explain(rating), many=True).data


# --- The methodology (apps/ratings/methodology.py's dataclasses, as published) ------------


class MethodologyInputSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The input's key (ratings' inputs use it).")
    label = serializers.CharField(help_text="The input's name.")
    source = serializers.CharField(help_text="snapshot (the day's figures), prices, revenue (daily history) or burns.")
    format = serializers.CharField(help_text="How it is shown: usd, pct, signed, ratio, days.")
    description = serializers.CharField(help_text="What the input is.")
    window_days = serializers.IntegerField(help_text="Days of history it uses, ending on the rating's day (0: none).")
    min_days = serializers.IntegerField(help_text="Fewer days of data than this and the input is missing.")
    needs = serializers.CharField(help_text="The data it needs, in words.")


class SubMetricSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The sub-metric's key.")
    label = serializers.CharField(help_text="The sub-metric's name.")
    weight = serializers.IntegerField(help_text="Its weight within the component.")
    measure = serializers.CharField(help_text="The input ranked (divided by per, when given).")
    per = serializers.CharField(help_text="The input the measure is divided by (empty: none).")
    higher_is_better = serializers.BooleanField(help_text="Whether a higher value ranks better.")
    note = serializers.CharField(help_text="A note on the sub-metric.")


class MethodologyComponentSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The component's key.")
    label = serializers.CharField(help_text="The component's name.")
    description = serializers.CharField(help_text="What the component measures.")
    submetrics = SubMetricSerializer(many=True, help_text="Its ranked measures.")


class GradeDefSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="investor or trader.")
    label = serializers.CharField(help_text="The grade's name.")
    description = serializers.CharField(help_text="What the grade is for.")
    weights = serializers.SerializerMethodField(help_text="Component key → its weight in the grade.")
    required = serializers.ListField(
        child=serializers.CharField(), help_text="Components without which there is no grade."
    )
    min_components = serializers.IntegerField(help_text="The fewest components with a score for a grade.")
    min_revenue_history_days = serializers.IntegerField(help_text="Below this many days of revenue: not rated.")

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_weights(self, grade) -> dict[str, int]:
        return dict(grade.weights)


class BandSerializer(serializers.Serializer):
    letter = serializers.CharField(help_text="The grade letter.")
    min_score = serializers.IntegerField(help_text="The lowest score with this letter.")
    meaning = serializers.CharField(help_text="What the letter means.")


class SignalDefSerializer(serializers.Serializer):
    grade = serializers.CharField(help_text="The grade whose score drives the signal.")
    bullish_enter = serializers.IntegerField(help_text="A score at or above this turns bullish.")
    bullish_exit = serializers.IntegerField(help_text="A bullish signal holds while the score is at or above this.")
    bearish_enter = serializers.IntegerField(help_text="A score at or below this turns bearish.")
    bearish_exit = serializers.IntegerField(help_text="A bearish signal holds while the score is at or below this.")


class RankingSerializer(serializers.Serializer):
    universe_weight = serializers.IntegerField(help_text="Weight of the rank within the whole universe.")
    category_weight = serializers.IntegerField(help_text="Weight of the rank within the token's category.")
    min_category_peers = serializers.IntegerField(help_text="Fewer peers with the figure: the universe rank alone.")
    formula = serializers.CharField(help_text="The percentile rank as computed.")
    lone_score = serializers.IntegerField(help_text="The rank of a value that is alone.")


class MethodologySerializer(serializers.Serializer):
    version = serializers.CharField(help_text="The methodology version ratings record.")
    published = serializers.CharField(help_text="When this version was published.")
    inputs = MethodologyInputSerializer(many=True, help_text="Every raw input a rating stores.")
    components = MethodologyComponentSerializer(many=True, help_text="The scored components and their sub-metrics.")
    grades = GradeDefSerializer(many=True, help_text="The grades and how they weigh the components.")
    bands = BandSerializer(many=True, help_text="Score bands and their letters.")
    signal = SignalDefSerializer(help_text="How the signal is set, with hysteresis.")
    ranking = RankingSerializer(help_text="How figures are ranked into scores.")
    score_move_points = serializers.IntegerField(help_text="A day-over-day move this large is recorded.")
    price_average_days = serializers.IntegerField(help_text="Returns compare average prices over this many days.")
    price_average_min_days = serializers.IntegerField(help_text="Fewest days for a price average.")
    revenue_max_lag_days = serializers.IntegerField(help_text="Revenue windows end at most this many days early.")
    revenue_window_coverage = serializers.DecimalField(
        max_digits=None, decimal_places=None, help_text="Share of a window's days that need data."
    )
    stdev_inputs = serializers.ListField(
        child=serializers.CharField(), help_text="Inputs that are sample standard deviations."
    )
    universe_rule = serializers.CharField(help_text="Who is rated on a day.")
    notes = serializers.ListField(child=serializers.CharField(), help_text="Notes on the method.")
    changes = serializers.ListField(child=serializers.CharField(), help_text="Changes from the previous version.")


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
    serializer_class = RatingSerializer

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
    serializer_class = RatingDetailSerializer
    pagination_class = None

    def get(self, request, slug: str):
        token = token_or_404(slug)
        day = parse_day(request.query_params.get("as_of"), "as_of")
        rating = token_rating(token.pk, day=day)
        if rating is None:
            raise Http404(f"{slug!r} has no rating" + (f" on or before {day}." if day else "."))
        rating.token = token
        return Response(self.get_serializer(rating).data)


@extend_schema(summary="A token's rating history", parameters=[START, END, FORMAT])
class RatingHistory(DailyList):
    model = Rating
    serializer_class = RatingSerializer

    def get_queryset(self):
        return super().get_queryset().filter(methodology_version=VERSION).select_related("token")


class MethodologyView(ApiView):
    serializer_class = MethodologySerializer
    pagination_class = None

    @extend_schema(summary="The ratings methodology")
    def get(self, request):
        """The methodology the ratings use, as data: inputs, components and weights, grades, bands, signal."""
        return Response(self.get_serializer(METHODOLOGY).data)
