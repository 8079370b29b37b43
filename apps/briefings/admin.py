"""Admin: editors write a day's note before its briefing's send time; briefings are read-only
here (the schedule builds them), and staff can email themselves a test copy of one."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from .emails import send_test_copies
from .models import Briefing, EditorNote

logger = logging.getLogger(__name__)


class EditorNoteForm(forms.ModelForm):
    class Meta:
        model = EditorNote
        fields = ["date", "text"]

    def clean_date(self):
        day = self.cleaned_data["date"]
        if Briefing.objects.filter(date=day, status=Briefing.Status.SENT).exists():
            raise forms.ValidationError("That day's briefing was already sent: a note can no longer go in it.")
        return day


@admin.register(EditorNote)
class EditorNoteAdmin(admin.ModelAdmin):
    form = EditorNoteForm
    list_display = ["date", "author", "updated_at", "briefing_status"]
    date_hierarchy = "date"
    search_fields = ["text"]

    def get_queryset(self, request: HttpRequest):
        status = Briefing.objects.filter(date=OuterRef("date")).values("status")[:1]
        return super().get_queryset(request).select_related("author").annotate(briefing=Subquery(status))

    @admin.display(description="Briefing")
    def briefing_status(self, obj: EditorNote) -> str:
        return Briefing.Status(obj.briefing).label if obj.briefing else "Not built yet"

    def has_change_permission(self, request: HttpRequest, obj: EditorNote | None = None) -> bool:
        # A sent briefing keeps the note it went out with: its note is no longer edited here.
        if obj is not None and Briefing.objects.filter(date=obj.date, status=Briefing.Status.SENT).exists():
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj: EditorNote, form, change: bool) -> None:
        obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(Briefing)
class BriefingAdmin(admin.ModelAdmin):
    list_display = ["date", "status", "built_at", "sent_at", "is_sample", "page"]
    list_filter = ["status", "is_sample"]
    date_hierarchy = "date"
    readonly_fields = ["date", "status", "built_at", "sent_at", "is_sample", "sections"]
    actions = ["send_test_copy_to_me"]

    @admin.action(description="Send a test copy to me")
    def send_test_copy_to_me(self, request: HttpRequest, queryset) -> None:
        """A [TEST] copy of each selected briefing, drafts too, to the staff user's own address
        (as ``send_briefing --test-to``): no delivery recorded, no subscription changed."""
        address = (request.user.email or "").strip()
        if not address:
            self.message_user(request, "Your account has no email address: nothing was sent.", messages.ERROR)
            return
        briefings = list(queryset.order_by("date"))
        try:
            for briefing in briefings:
                send_test_copies(briefing, [address])
        except Exception as exc:  # the mail server refused or is down: say so, not a 500
            logger.exception("briefing test copy to %s failed", address)
            self.message_user(request, f"The test copy could not be sent: {exc}", messages.ERROR)
            return
        days = ", ".join(f"{b.date:%Y-%m-%d}" for b in briefings)
        self.message_user(request, f"Sent a [TEST] copy of the briefing for {days} to {address}.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Briefing | None = None) -> bool:
        return False

    @admin.display(description="Page")
    def page(self, obj: Briefing) -> str:
        if obj.is_public:
            return format_html('<a href="{}">view</a>', obj.get_absolute_url())
        url = reverse("admin:briefings_briefing_preview", kwargs={"pk": obj.pk})
        return format_html('<a href="{}">preview</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_view), name="briefings_briefing_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The page as readers will see it, a draft too: what the editor's note goes with."""
        from .views import render_briefing_page

        if not self.has_view_permission(request):
            raise PermissionDenied
        return render_briefing_page(request, get_object_or_404(Briefing, pk=pk), preview=True)
