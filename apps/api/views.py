"""The subscriber API, version 1. Authentication, scopes, quotas and problem responses come
from REST_FRAMEWORK's defaults (config/settings.py): a view only reads and renders."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import plan_for

from .selectors import api_usage_by_day
from .throttling import REQUEST_ATTRIBUTE

MAX_USAGE_DAYS = 35


class MeView(APIView):
    """The key's owner, the key, the plan's quotas and what is left of them."""

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
