"""The daily briefings, as the site publishes them (drafts hidden; the sample's only while
the sample data set is shown): a list newest first, and one day's with its stored sections."""

from __future__ import annotations

from django.db.models import F
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from apps.briefings.models import Briefing
from apps.briefings.selectors import public_briefing, public_briefings

from .base import FORMAT, ApiList, ApiView, parse_day

BRIEFING_HELP = {
    "date": "The day the briefing is about (UTC); its URL.",
    "status": "ready (published, queued to send) or sent.",
    "built_at": "When the briefing was built from the day's figures.",
    "sent_at": "When its email went out (null: not yet).",
    "is_sample": "True when the briefing was built from the sample data set.",
}


class BriefingSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField(help_text="The day in one line.")

    class Meta:
        model = Briefing
        fields = ("date", "status", "summary", "built_at", "sent_at", "is_sample")
        extra_kwargs = {name: {"help_text": text} for name, text in BRIEFING_HELP.items()}

    @extend_schema_field(OpenApiTypes.STR)
    def get_summary(self, briefing: Briefing) -> str:
        # Lists annotate it, so their rows never load the sections.
        summary = briefing.summary if hasattr(briefing, "summary") else briefing.sections.get("summary")
        return summary or ""


class BriefingDetailSerializer(BriefingSerializer):
    sections = serializers.JSONField(
        read_only=True,
        help_text=(
            "Every section as stored when built (so as sent): rating_changes, signal_flips, "
            "revenue_movers, holders_revenue_movers (the top few, with *_total counts), accrual_events, "
            "top_list_revisions, the editor's note, watch (what it says about each token, by slug), summary."
        ),
    )

    class Meta(BriefingSerializer.Meta):
        fields = (*BriefingSerializer.Meta.fields, "sections")


class BriefingList(ApiList):
    """Published daily briefings, newest first, each with its one-line summary."""

    serializer_class = BriefingSerializer

    def get_queryset(self):
        return public_briefings().defer("sections").annotate(summary=F("sections__summary")).order_by("-date")

    @extend_schema(summary="Daily briefings, newest first", parameters=[FORMAT])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class BriefingDetail(ApiView):
    """One day's published briefing (YYYY-MM-DD) with every section as it was sent."""

    serializer_class = BriefingDetailSerializer
    pagination_class = None

    @extend_schema(
        summary="One day's briefing with its sections",
        parameters=[
            OpenApiParameter("day", OpenApiTypes.DATE, OpenApiParameter.PATH, description="The briefing's day (UTC).")
        ],
    )
    def get(self, request, day: str):
        date = parse_day(day, "day")
        try:
            briefing = public_briefing(date.isoformat())
        except Http404:
            raise Http404(f"No published briefing for {date}.") from None
        return Response(self.get_serializer(briefing).data)
