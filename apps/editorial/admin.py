"""Editors' admin for Top 10 lists: entries inline and reordered by drag and drop, a preview
of the public page, a publishing page (publish, schedule, revise, archive) that runs the
services' checks, and every change's history with its old values."""

from __future__ import annotations

from adminsortable2.admin import CustomInlineFormSet, SortableAdminBase, SortableTabularInline
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from apps.accounts.models import User
from apps.tokens.models import Token

from . import selectors, services
from .models import MAX_ENTRIES, ListEntry, Revision, RevisionEntry, TopList
from .services import EntryDraft


class ListEntryForm(forms.ModelForm):
    class Meta:
        model = ListEntry
        fields = ["token", "rank", "blurb", "sponsored", "sponsor_name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["token"].error_messages["invalid_choice"] = "No such token: pick one from the search."


class ListEntryFormSet(CustomInlineFormSet):
    """Refuses what publishing would refuse in the entries (an 11th, a token twice, a delisted
    token, a sponsor missing), with the reasons, before anything is saved."""

    def clean(self) -> None:
        kept = [
            form
            for form in self.forms
            if form.is_valid()
            and form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("token")
        ]
        if any(self.errors):
            return
        if len(kept) > MAX_ENTRIES:
            raise ValidationError(
                f"A Top 10 list holds at most {MAX_ENTRIES} entries; this has {len(kept)}. Remove one."
            )
        drafts = [
            EntryDraft(
                token_id=form.cleaned_data["token"].pk,
                rank=position,  # ranks are closed up on save (services.entries_renumber)
                sponsored=form.cleaned_data.get("sponsored", False),
                sponsor_name=form.cleaned_data.get("sponsor_name", ""),
            )
            for position, form in enumerate(kept, start=1)
        ]
        problems = [p for p in services.entry_problems(drafts) if not p.startswith("The list has no entries")]
        if problems:
            raise ValidationError(problems)
        super().clean()


class ListEntryInline(SortableTabularInline):
    model = ListEntry
    form = ListEntryForm
    formset = ListEntryFormSet
    fields = ["token", "blurb", "sponsored", "sponsor_name"]
    autocomplete_fields = ["token"]
    extra = 0
    max_num = MAX_ENTRIES
    validate_max = True


class StaffChoiceMixin:
    """Author and editors are staff: the form never lists readers' addresses."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in {"author", "editor"}:
            kwargs["queryset"] = User.objects.filter(is_staff=True).order_by("email")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "editors":
            kwargs["queryset"] = User.objects.filter(is_staff=True).order_by("email")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class TopListForm(forms.ModelForm):
    class Meta:
        model = TopList
        fields = [
            "title",
            "slug",
            "summary",
            "criteria",
            "publish_at",
            "author",
            "editors",
            "sponsored",
            "sponsor_name",
        ]

    def clean(self):
        data = super().clean()
        if data.get("sponsored") and not (data.get("sponsor_name") or "").strip():
            self.add_error("sponsor_name", "A sponsored list names its sponsor.")
        return data


@admin.register(TopList)
class TopListAdmin(StaffChoiceMixin, SortableAdminBase, SimpleHistoryAdmin):
    form = TopListForm
    inlines = [ListEntryInline]
    list_display = ["title", "status", "publish_at", "published_at", "revision_count", "sponsored", "is_sample"]
    list_filter = ["status", "sponsored", "is_sample"]
    search_fields = ["title", "slug", "summary"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["status", "published_at", "archived_at", "schedule_error", "is_sample"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "criteria"]}),
        ("Publishing", {"fields": ["status", "publish_at", "published_at", "archived_at", "schedule_error"]}),
        ("People", {"fields": ["author", "editors"]}),
        ("Sponsorship", {"fields": ["sponsored", "sponsor_name"]}),
    ]
    filter_horizontal = ["editors"]
    change_form_template = "admin/editorial/toplist/change_form.html"
    history_list_display = ["status"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(revision_total=Count("revisions"))

    @admin.display(description="Revisions", ordering="revision_total")
    def revision_count(self, obj: TopList) -> int:
        return obj.revision_total

    def save_model(self, request, obj, form, change):
        if not change and obj.author_id is None:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.entries_renumber(top_list=form.instance)
        form.instance.editors.add(request.user)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_view), name=f"{prefix}_preview"),
            path("<int:pk>/publishing/", view(self.publishing_view), name=f"{prefix}_publishing"),
            path("<int:pk>/entry-history/", view(self.entry_history_view), name=f"{prefix}_entry_history"),
            *super().get_urls(),
        ]

    def _object(self, request: HttpRequest, pk: int, *, change: bool) -> TopList:
        if not self.has_view_permission(request):
            raise PermissionDenied
        top_list = get_object_or_404(TopList, pk=pk)
        if change and not self.has_change_permission(request, top_list):
            raise PermissionDenied
        return top_list

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The public page as it would look with the working entries, whatever the status."""
        from .views import render_list_page

        self._object(request, pk, change=False)
        return render_list_page(request, selectors.list_page(selectors.preview_list(pk), preview=True))

    def publishing_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """What would stop the list from publishing, and the actions its status allows."""
        top_list = self._object(request, pk, change=request.method == "POST")
        errors: list[str] = []
        note = ""
        if request.method == "POST":
            action, note = request.POST.get("action", ""), request.POST.get("note", "")
            try:
                done = self._publishing_action(request, top_list, action, note)
            except ValidationError as exc:
                errors = exc.messages
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:editorial_toplist_change", args=[top_list.pk]))
        entries = list(ListEntry.objects.filter(top_list=top_list).select_related("token").order_by("rank", "pk"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": top_list,
            "title": f"Publishing “{top_list.title}”",
            "top_list": top_list,
            "entries": entries,
            "problems": services.list_problems(top_list),
            "errors": errors,
            "note": note,
            "latest": top_list.revisions.order_by("-number").first(),
            "can_change": self.has_change_permission(request, top_list),
        }
        return TemplateResponse(
            request, "admin/editorial/toplist/publishing.html", context, status=422 if errors else 200
        )

    def _publishing_action(self, request: HttpRequest, top_list: TopList, action: str, note: str) -> str:
        if action == "publish":
            services.publish(top_list=top_list, editor=request.user, note=note)
            return f"“{top_list.title}” is published (revision 1)."
        if action == "revise":
            revision = services.publish_revision(top_list=top_list, editor=request.user, note=note)
            return f"Revision {revision.number} of “{top_list.title}” is published."
        if action == "schedule":
            services.schedule(top_list=top_list, publish_at=top_list.publish_at)
            return f"“{top_list.title}” will publish itself at {top_list.publish_at:%Y-%m-%d %H:%M} UTC."
        if action == "unschedule":
            services.unschedule(top_list=top_list)
            return f"“{top_list.title}” is a draft again."
        if action == "archive":
            services.archive(top_list=top_list)
            return f"“{top_list.title}” is archived: its page stays, its record ends today."
        raise ValidationError("Unknown action.")

    def entry_history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Every change to the list's entries: who, when, and the values before and after."""
        top_list = self._object(request, pk, change=False)
        records = list(
            ListEntry.history.filter(top_list_id=top_list.pk)
            .select_related("history_user")
            .order_by("history_date", "history_id")
        )
        # Looked up apart: a join would hide the rows of a token deleted since.
        symbols = dict(Token.objects.filter(pk__in={r.token_id for r in records}).values_list("pk", "symbol"))
        fields = ["token_id", "rank", "blurb", "sponsored", "sponsor_name"]
        previous: dict[int, object] = {}
        rows = []
        for record in records:
            before = previous.get(record.id)
            changes = [
                (name.removesuffix("_id"), getattr(before, name), getattr(record, name))
                for name in fields
                if before is not None and getattr(before, name) != getattr(record, name)
            ]
            rows.append({"record": record, "symbol": symbols.get(record.token_id, ""), "changes": changes})
            previous[record.id] = record
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": top_list,
            "title": f"Entry history of “{top_list.title}”",
            "rows": rows[::-1],
        }
        return TemplateResponse(request, "admin/editorial/toplist/entry_history.html", context)


class RevisionEntryInline(admin.TabularInline):
    model = RevisionEntry
    fields = ["rank", "token", "blurb", "sponsored", "sponsor_name"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Revision)
class RevisionAdmin(StaffChoiceMixin, SimpleHistoryAdmin):
    """Published revisions: only the note may be corrected; its old wording stays in the history."""

    list_display = ["top_list", "number", "made_at", "editor"]
    list_filter = ["top_list"]
    list_select_related = ["top_list", "editor"]
    fields = ["top_list", "number", "made_at", "editor", "note"]
    readonly_fields = ["top_list", "number", "made_at", "editor"]
    inlines = [RevisionEntryInline]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
