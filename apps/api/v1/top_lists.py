"""The published Top 10 lists, each with every revision (oldest first) and its entries: all
lists, and one by its slug; with their serializers."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.editorial.models import Revision, RevisionEntry, TopList
from apps.editorial.selectors import public_lists

from .base import FORMAT, ApiList, ApiView
from .serializers import TokenRefSerializer


class RevisionEntrySerializer(serializers.ModelSerializer):
    token = TokenRefSerializer(read_only=True, help_text="The token listed.")

    class Meta:
        model = RevisionEntry
        fields = ("rank", "token", "blurb", "sponsored", "sponsor_name")
        extra_kwargs = {
            "rank": {"help_text": "Its place on the list, 1 first."},
            "blurb": {"help_text": "The editor's short reason for this token."},
            "sponsored": {"help_text": "True when the entry is paid for."},
            "sponsor_name": {"help_text": "Who paid for it."},
        }


class RevisionSerializer(serializers.ModelSerializer):
    entries = RevisionEntrySerializer(many=True, read_only=True, help_text="The list as published in this revision.")

    class Meta:
        model = Revision
        fields = ("number", "made_at", "note", "entries")
        extra_kwargs = {
            "number": {"help_text": "1 for the first publication, then one more for each change."},
            "made_at": {"help_text": "When the revision was published."},
            "note": {"help_text": "Why the list changed."},
        }


class TopListSerializer(serializers.ModelSerializer):
    revisions = RevisionSerializer(many=True, read_only=True, help_text="Every published revision, oldest first.")

    class Meta:
        model = TopList
        fields = (
            "slug",
            "title",
            "summary",
            "criteria",
            "status",
            "published_at",
            "archived_at",
            "sponsored",
            "sponsor_name",
            "is_sample",
            "revisions",
        )
        extra_kwargs = {
            "slug": {"help_text": "The list's stable id."},
            "title": {"help_text": "The list's title."},
            "summary": {"help_text": "What the list is."},
            "status": {"help_text": "published or archived (archived lists are kept, no longer updated)."},
            "published_at": {"help_text": "When the list was first published."},
            "archived_at": {"help_text": "When the list was archived."},
            "sponsored": {"help_text": "True when the list is paid for."},
            "sponsor_name": {"help_text": "Who paid for it."},
            "is_sample": {"help_text": "True for the sample data set's lists."},
        }


def _lists():
    entries = RevisionEntry.objects.select_related("token").order_by("rank")
    revisions = Revision.objects.prefetch_related(Prefetch("entries", queryset=entries)).order_by("number")
    return public_lists().prefetch_related(Prefetch("revisions", queryset=revisions))


@extend_schema(summary="Top 10 lists with their revisions", parameters=[FORMAT])
class TopLists(ApiList):
    serializer_class = TopListSerializer

    def get_queryset(self):
        return _lists().order_by("slug")


@extend_schema(summary="A Top 10 list with its revisions")
class TopListDetail(ApiView):
    serializer_class = TopListSerializer
    pagination_class = None

    def get(self, request, slug: str):
        top_list = _lists().filter(slug=slug).first()
        if top_list is None:
            raise Http404(f"No published list with the slug {slug!r}.")
        return Response(self.get_serializer(top_list).data)
