"""The plan's quotas as a DRF throttle, and the IETF RateLimit headers (draft-ietf-httpapi-
ratelimit-headers) that ApiMiddleware adds to every response the throttle saw:

    RateLimit-Policy: "minute";q=30;w=60, "month";q=30000;w=2678400
    RateLimit: "minute";r=29;t=42, "month";r=29999;t=1234567
"""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from .models import APIKey
from .quotas import QuotaDecision, quota_check

REQUEST_ATTRIBUTE = "api_quota"


class PlanQuotaThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return True
        self.decision = quota_check(user_id=key.user_id, key_prefix=key.prefix, plan=key.plan)
        setattr(request._request, REQUEST_ATTRIBUTE, self.decision)
        return self.decision.allowed

    def wait(self) -> int:
        return self.decision.retry_after


def ratelimit_headers(decision: QuotaDecision) -> dict[str, str]:
    headers = {"RateLimit-Policy": ", ".join(f'"{p.name}";q={p.quota};w={p.window}' for p in decision.policies)}
    known = [p for p in decision.policies if p.remaining is not None]
    if known:
        headers["RateLimit"] = ", ".join(f'"{p.name}";r={p.remaining};t={p.reset}' for p in known)
    return headers
