"""The subscriber API, version 1. Authentication, scopes, quotas and problem responses come
from REST_FRAMEWORK's defaults (config/settings.py): a view only reads and renders."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import plan_for

from .selectors import api_usage_by_day
from .throttling import REQUEST_ATTRIBUTE

MAX_USAGE_DAYS = 90  # the database keeps every day (apps.api.usage); a bound keeps the answer small


class _KeySerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The key's public prefix (acr_…), as the account page lists it.")
    name = serializers.CharField(help_text="The name its owner gave the key.")
    scopes = serializers.ListField(
        child=serializers.CharField(), help_text="What the key may do: read, watchlists:write."
    )
    expires = serializers.DateTimeField(allow_null=True, help_text="When the key stops working; null: never.")


class _PlanSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The plan's name.")
    slug = serializers.CharField(help_text="The plan's stable identifier.")
    requests_per_minute = serializers.IntegerField(help_text="Requests the account may make a minute.")
    requests_per_month = serializers.IntegerField(help_text="Requests the account may make a calendar month (UTC).")


class _RemainingSerializer(serializers.Serializer):
    remaining_this_minute = serializers.IntegerField(allow_null=True, help_text="Requests left this minute.")
    remaining_this_month = serializers.IntegerField(allow_null=True, help_text="Requests left this month.")


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="The key owner's address.")
    key = _KeySerializer(help_text="The key this request was made with.")
    plan = _PlanSerializer(help_text="The account's plan and its quotas.")
    usage = _RemainingSerializer(help_text="What is left of the quotas (null when the counters cannot be read).")


class _KeyUsageSerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The key's public prefix.")
    name = serializers.CharField(help_text="The key's name.")
    requests = serializers.IntegerField(help_text="Requests made with the key that day.")


class _DayUsageSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The day (UTC).")
    requests = serializers.IntegerField(help_text="Requests made that day with all the account's keys.")
    keys = _KeyUsageSerializer(many=True, help_text="The same by key.")


class UsageSerializer(serializers.Serializer):
    days = _DayUsageSerializer(many=True, help_text="One entry a day, newest first.")


class MeView(APIView):
    """The key's owner, the key, the plan's quotas and what is left of them."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        plan = plan_for(request.user)
        decision = getattr(request._request, REQUEST_ATTRIBUTE, None)
        remaining = {p.name: p.remaining for p in decision.policies} if decision else {}
        key = request.auth
        return Response(
            {
                "email": request.user.email,
                "key": {
                    "prefix": key.prefix,
                    "name": key.name,
                    "scopes": key.scope_list,
                    "expires": key.expiry_date,
                },
                "plan": {
                    "name": plan.name,
                    "slug": plan.slug,
                    "requests_per_minute": plan.api_requests_per_minute,
                    "requests_per_month": plan.api_requests_per_month,
                },
                "usage": {
                    "remaining_this_minute": remaining.get("minute"),
                    "remaining_this_month": remaining.get("month"),
                },
            }
        )


class UsageQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_USAGE_DAYS, default=30)


class MeUsageView(APIView):
    """Requests per day (UTC, newest first) and per key, the account's keys together."""

    @extend_schema(
        responses=UsageSerializer,
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": MAX_USAGE_DAYS},
                description=f"How many days back, today included, 1 to {MAX_USAGE_DAYS} (default 30).",
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = UsageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = api_usage_by_day(user=request.user, days=query.validated_data["days"])
        return Response(
            {
                "days": [
                    {
                        "date": day.date,
                        "requests": day.requests,
                        "keys": [{"prefix": k.prefix, "name": k.name, "requests": k.requests} for k in day.keys],
                    }
                    for day in days
                ]
            }
        )
