"""Ratings in the editors' admin: read-only, since only the ratings service writes them
(a wrong rating is fixed by fixing its inputs and recomputing, never by hand)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .models import Rating, RatingChange


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False  # millions of rows: no second COUNT(*) per page

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = [
        "token",
        "date",
        "methodology_version",
        "investor_score",
        "investor_grade",
        "trader_score",
        "trader_grade",
        "signal",
        "is_latest",
        "computed_at",
    ]
    list_filter = ["methodology_version", "investor_grade", "trader_grade", "signal"]
    list_select_related = ["token", "latest"]
    search_fields = ["token__slug", "token__symbol", "token__name"]
    ordering = ["-date", "token__slug"]
    raw_id_fields = ["token"]
    fields = [
        "token",
        "date",
        "methodology_version",
        ("investor_score", "investor_grade", "investor_reason"),
        ("trader_score", "trader_grade", "trader_reason"),
        "signal",
        ("revenue_score", "value_accrual_score", "valuation_score", "momentum_score", "risk_score"),
        "inputs_pretty",
        "components_pretty",
        "fingerprint",
        "computed_at",
    ]
    readonly_fields = ["inputs_pretty", "components_pretty"]

    @admin.display(description="Latest", boolean=True)
    def is_latest(self, obj: Rating) -> bool:
        return hasattr(obj, "latest")

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: Rating) -> str:
        return _pretty(obj.inputs)

    @admin.display(description="Components")
    def components_pretty(self, obj: Rating) -> str:
        return _pretty(obj.components)


@admin.register(RatingChange)
class RatingChangeAdmin(ReadOnlyAdmin):
    list_display = ["token", "date", "kind", "subject", "before", "after", "methodology_version"]
    list_filter = ["kind", "subject", "methodology_version"]
    list_select_related = ["token"]
    search_fields = ["token__slug", "token__symbol", "token__name"]
    ordering = ["-date", "token__slug"]
    raw_id_fields = ["token"]
    readonly_fields = ["detail_pretty"]
    fields = [
        "token",
        "date",
        "methodology_version",
        "kind",
        "subject",
        "before",
        "after",
        "detail_pretty",
        "created_at",
    ]

    @admin.display(description="Detail")
    def detail_pretty(self, obj: RatingChange) -> str:
        return _pretty(obj.detail)
