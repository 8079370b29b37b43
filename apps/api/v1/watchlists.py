"""The caller's own watchlists and alert rules: reads, and writes with the ``watchlists:write``
scope. Every object is fetched through the caller's own rows, so another reader's id is the
same 404 as an unknown one; writes go through the site's services and form, so limits,
validation and messages are the site's. A plan limit reached is a 403 ``plan-limit``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from apps.api.models import Scope
from apps.tokens.models import Token
from apps.watchlists import alert_selectors, alerts, services
from apps.watchlists.forms import AlertRuleForm
from apps.watchlists.models import (
    NAME_MAX_LENGTH,
    AlertDelivery,
    AlertDirection,
    AlertKind,
    AlertRule,
    Watchlist,
    WatchlistItem,
)
from apps.watchlists.selectors import watchlist_for_user, watchlists_with_tokens

from .base import FORMAT, ApiList, ApiView
from .serializers import TokenRefSerializer

NO_SUCH_RULE = "No such alert rule"
THRESHOLD_HELP = (
    "% for revenue and price moves, a ratio for P/S and P/HR, USD for buybacks and burns; "
    "null for grade and signal changes, which need none."
)


class PlanLimitReached(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "Your plan's limit is reached."
    default_code = "plan-limit"


@contextmanager
def service_errors(field: str) -> Iterator[None]:
    """A service's refusal as the API's: its message under ``field`` (400), or a plan limit (403)."""
    try:
        yield
    except DjangoValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    except services.LimitReached as exc:
        raise PlanLimitReached(exc.message) from None


def body(request) -> Mapping:
    if not isinstance(request.data, Mapping):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


def valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=body(request))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Shapes ---------------------------------------------------------------------------------


class WatchlistItemSerializer(serializers.ModelSerializer):
    token = TokenRefSerializer(read_only=True, help_text="The token on the list.")

    class Meta:
        model = WatchlistItem
        fields = ("token", "added_at", "price_at_add", "investor_grade_at_add", "trader_grade_at_add")
        extra_kwargs = {
            "added_at": {"help_text": "When the token was added."},
            "price_at_add": {"help_text": "Its price in USD when added (null: none known then)."},
            "investor_grade_at_add": {"help_text": "Its investor grade when added (empty: not rated)."},
            "trader_grade_at_add": {"help_text": "Its trader grade when added (empty: not rated)."},
        }


class WatchlistSerializer(serializers.ModelSerializer):
    items = WatchlistItemSerializer(many=True, read_only=True, help_text="Its tokens, oldest addition first.")

    class Meta:
        model = Watchlist
        fields = ("id", "name", "is_default", "created_at", "updated_at", "items")
        extra_kwargs = {
            "id": {"help_text": "The list's id (URLs use it)."},
            "name": {"help_text": "The list's name, unique among the caller's (ignoring case)."},
            "is_default": {"help_text": "True for the list the site's star adds to."},
            "created_at": {"help_text": "When the list was made."},
            "updated_at": {"help_text": "When the list was last renamed or made the default."},
        }


class WatchlistNameSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=NAME_MAX_LENGTH, help_text="The list's name, unique among yours (ignoring case)."
    )


class WatchlistTokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=100, help_text="The token's slug, as /api/v1/tokens/ gives it.")


class WatchlistRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Watchlist
        fields = ("id", "name")
        extra_kwargs = {"id": {"help_text": "The list's id."}, "name": {"help_text": "The list's name."}}


class AlertRuleSerializer(serializers.ModelSerializer):
    token = TokenRefSerializer(
        read_only=True, allow_null=True, help_text="The token watched (null: a watchlist's tokens are)."
    )
    watchlist = WatchlistRefSerializer(
        read_only=True, allow_null=True, help_text="The list whose tokens are watched (null: one token is)."
    )
    description = serializers.CharField(read_only=True, help_text="The rule in words, as the Alerts page says it.")

    class Meta:
        model = AlertRule
        fields = (
            "id",
            "kind",
            "token",
            "watchlist",
            "threshold",
            "direction",
            "delivery",
            "is_active",
            "description",
            "created_at",
        )
        extra_kwargs = {
            "id": {"help_text": "The rule's id (URLs use it)."},
            "kind": {"help_text": "What the rule watches for."},
            "threshold": {"help_text": THRESHOLD_HELP},
            "direction": {"help_text": "Which way a change must go: any, up or down."},
            "delivery": {"help_text": "How a firing is told: in_app (notifications list), immediate or digest email."},
            "is_active": {"help_text": "False while the rule is paused."},
            "created_at": {"help_text": "When the rule was made."},
        }


class AlertRuleCreateSerializer(serializers.Serializer):
    """The body of a new rule, for the schema: the site's AlertRuleForm validates it."""

    token = serializers.CharField(
        required=False, allow_null=True, help_text="A token's slug; give this or watchlist, not both."
    )
    watchlist = serializers.IntegerField(
        required=False, allow_null=True, help_text="The id of one of your watchlists; give this or token."
    )
    kind = serializers.ChoiceField(choices=AlertKind.choices, help_text="What the rule watches for.")
    threshold = serializers.DecimalField(
        max_digits=22, decimal_places=4, required=False, allow_null=True, help_text=THRESHOLD_HELP
    )
    direction = serializers.ChoiceField(
        choices=AlertDirection.choices, required=False, help_text="any (default), up or down."
    )
    delivery = serializers.ChoiceField(
        choices=AlertDelivery.choices, required=False, help_text="in_app (default), immediate or digest."
    )


class AlertRuleChangeSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False, help_text="false pauses the rule, true resumes it.")
    threshold = serializers.DecimalField(
        max_digits=22, decimal_places=4, required=False, help_text=f"A new threshold, greater than 0: {THRESHOLD_HELP}"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise ValidationError("Give is_active, threshold or both.")
        return attrs


# --- Watchlists -----------------------------------------------------------------------------


def _watchlist(request, pk: int) -> Watchlist:
    watchlist = watchlists_with_tokens(request.user).filter(pk=pk).first()
    if watchlist is None:
        raise Http404("No such watchlist")
    return watchlist


class WatchlistList(ApiList):
    """Your watchlists, the default first then by name; POST makes one (needs watchlists:write)."""

    serializer_class = WatchlistSerializer
    write_scope = Scope.WATCHLISTS_WRITE

    def get_queryset(self):
        return watchlists_with_tokens(self.request.user)

    @extend_schema(summary="Your watchlists with their tokens", parameters=[FORMAT])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Make a watchlist", request=WatchlistNameSerializer, responses={201: WatchlistSerializer})
    def post(self, request):
        name = valid(WatchlistNameSerializer, request)["name"]
        with service_errors("name"):
            watchlist = services.watchlist_create(user=request.user, name=name)
        return Response(self.get_serializer(_watchlist(request, watchlist.pk)).data, status=status.HTTP_201_CREATED)


class WatchlistDetail(ApiView):
    """One of your watchlists; another reader's id is a 404, as an unknown one is."""

    serializer_class = WatchlistSerializer
    pagination_class = None
    write_scope = Scope.WATCHLISTS_WRITE

    @extend_schema(summary="One of your watchlists")
    def get(self, request, pk: int):
        return Response(self.get_serializer(_watchlist(request, pk)).data)

    @extend_schema(summary="Rename a watchlist", request=WatchlistNameSerializer)
    def patch(self, request, pk: int):
        watchlist = watchlist_for_user(user=request.user, pk=pk)
        name = valid(WatchlistNameSerializer, request)["name"]
        with service_errors("name"):
            try:
                services.watchlist_rename(watchlist=watchlist, name=name)
            except Watchlist.DoesNotExist:
                raise Http404("No such watchlist") from None
        return Response(self.get_serializer(_watchlist(request, pk)).data)

    @extend_schema(
        summary="Delete a watchlist (its alert rules go with it)",
        responses={204: OpenApiResponse(description="Deleted; the oldest list left becomes the default.")},
    )
    def delete(self, request, pk: int):
        services.watchlist_delete(watchlist=watchlist_for_user(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WatchlistTokens(ApiView):
    """Adds a token by its slug, with its price and grades now (needs watchlists:write)."""

    serializer_class = WatchlistItemSerializer
    pagination_class = None
    write_scope = Scope.WATCHLISTS_WRITE

    @extend_schema(
        summary="Add a token to a watchlist",
        request=WatchlistTokenSerializer,
        responses={
            201: WatchlistItemSerializer,
            200: OpenApiResponse(WatchlistItemSerializer, description="Already on the list; left as it was."),
        },
    )
    def post(self, request, pk: int):
        watchlist = watchlist_for_user(user=request.user, pk=pk)
        slug = valid(WatchlistTokenSerializer, request)["token"]
        token = Token.objects.select_related("latest_snapshot").filter(slug=slug).first()
        if token is None:
            raise ValidationError({"token": [f"There is no token {slug!r}. Use its slug from /api/v1/tokens/."]})
        there = WatchlistItem.objects.filter(watchlist=watchlist, token=token).exists()
        with service_errors("token"):
            try:
                item = services.watchlist_add(user=request.user, token=token, watchlist=watchlist)
            except Watchlist.DoesNotExist:
                raise Http404("No such watchlist") from None
        return Response(self.get_serializer(item).data, status=status.HTTP_200_OK if there else status.HTTP_201_CREATED)


class WatchlistToken(ApiView):
    """Removes a token from one of your watchlists (needs watchlists:write)."""

    pagination_class = None
    write_scope = Scope.WATCHLISTS_WRITE

    @extend_schema(
        summary="Remove a token from a watchlist",
        request=None,
        responses={204: OpenApiResponse(description="Removed.")},
    )
    def delete(self, request, pk: int, slug: str):
        watchlist = watchlist_for_user(user=request.user, pk=pk)
        token = Token.objects.filter(slug=slug).first()
        if token is None:
            raise Http404(f"No token with the slug {slug!r}.")
        try:
            removed = services.watchlist_remove(user=request.user, token=token, watchlist=watchlist)
        except Watchlist.DoesNotExist:
            raise Http404("No such watchlist") from None
        if not removed:
            raise Http404(f"{slug!r} is not on this watchlist.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Alert rules ----------------------------------------------------------------------------


def _rule(request, pk: int) -> AlertRule:
    try:
        return alert_selectors.rule_for_user(user=request.user, pk=pk)
    except Http404:
        raise Http404(NO_SUCH_RULE) from None


def form_errors(form: AlertRuleForm) -> dict[str, list[str]]:
    return {("non_field_errors" if name == "__all__" else name): list(errors) for name, errors in form.errors.items()}


class AlertRuleList(ApiList):
    """Your alert rules, newest first; POST makes one, validated as the Alerts page validates it."""

    serializer_class = AlertRuleSerializer
    write_scope = Scope.WATCHLISTS_WRITE

    def get_queryset(self):
        return alert_selectors.rules_of(self.request.user).order_by("-created_at", "-pk")

    @extend_schema(summary="Your alert rules, newest first", parameters=[FORMAT])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Make an alert rule", request=AlertRuleCreateSerializer, responses={201: AlertRuleSerializer}
    )
    def post(self, request):
        data = {"direction": AlertDirection.ANY, "delivery": AlertDelivery.IN_APP, **body(request)}
        form = AlertRuleForm(data, user=request.user)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        fields = form.cleaned_data
        with service_errors("non_field_errors"):
            rule = alerts.alert_rule_create(
                user=request.user,
                kind=fields["kind"],
                token=fields["token"],
                watchlist=fields["watchlist"],
                threshold=fields["threshold"],
                direction=fields["direction"],
                delivery=fields["delivery"],
            )
        return Response(self.get_serializer(_rule(request, rule.pk)).data, status=status.HTTP_201_CREATED)


class AlertRuleDetail(ApiView):
    """One of your alert rules; another reader's id is a 404, as an unknown one is."""

    serializer_class = AlertRuleSerializer
    pagination_class = None
    write_scope = Scope.WATCHLISTS_WRITE

    @extend_schema(summary="One of your alert rules")
    def get(self, request, pk: int):
        return Response(self.get_serializer(_rule(request, pk)).data)

    @extend_schema(summary="Pause, resume or move the threshold of an alert rule", request=AlertRuleChangeSerializer)
    def patch(self, request, pk: int):
        rule = _rule(request, pk)
        change = valid(AlertRuleChangeSerializer, request)
        with service_errors("threshold"):
            try:
                alerts.alert_rule_change(rule=rule, **change)
            except AlertRule.DoesNotExist:
                raise Http404(NO_SUCH_RULE) from None
        return Response(self.get_serializer(_rule(request, pk)).data)

    @extend_schema(
        summary="Delete an alert rule",
        responses={204: OpenApiResponse(description="Deleted; its notifications stay.")},
    )
    def delete(self, request, pk: int):
        alerts.alert_rule_delete(rule=_rule(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
