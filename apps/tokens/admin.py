"""Editors' admin for tokens: curate tokens, accrual policies, events and revenue reports.

Daily facts, snapshots and sync runs are written by ingestion only, so their admins are
read-only. Every token foreign key is a raw id or an autocomplete so pages stay fast with
thousands of tokens and millions of daily rows.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from . import budget
from .data_set import data_set_refusal
from .models import (
    AccrualEvent,
    AccrualPolicy,
    Category,
    CategoryMapping,
    Chain,
    DataSet,
    DefiLlamaProtocol,
    EditorChoice,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    SyncRun,
    Token,
)
from .selectors import data_changed
from .templatetags.accrual_format import usd
from .universe import category_mapping_apply


class RetiresPageCaches:
    """Deleting several rows logs them in bulk, which sends no LogEntry post_save (the hook in
    apps.py): retire the pages' caches here once the rows are gone."""

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        transaction.on_commit(data_changed)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by editors, written only by ingestion."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Chain)
class ChainAdmin(RetiresPageCaches, admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class AccrualPolicyInline(admin.StackedInline):
    model = AccrualPolicy
    extra = 0
    fields = [("mechanism", "basis", "share_of_revenue"), ("since", "until"), "description", "source_url"]


class MappingFilter(admin.SimpleListFilter):
    title = "DefiLlama mapping"
    parameter_name = "mapping"

    def lookups(self, request, model_admin):
        return [("unmapped", "No DefiLlama protocol"), ("mapped", "Mapped"), ("locked", "Mapped by an editor")]

    def queryset(self, request, queryset):
        if self.value() == "unmapped":
            return queryset.filter(defillama_slug=None)
        if self.value() == "mapped":
            return queryset.exclude(defillama_slug=None)
        if self.value() == "locked":
            return queryset.filter(mapping_locked=True)
        return queryset


@admin.register(Token)
class TokenAdmin(RetiresPageCaches, admin.ModelAdmin):
    list_display = [
        "name",
        "symbol",
        "category",
        "market_cap_rank",
        "listing",
        "editor_choice",
        "market_cap",
        "revenue_annualised",
        "snapshot_date",
    ]
    list_select_related = ["latest_snapshot"]
    list_filter = ["editor_choice", "listing", "category", MappingFilter, "chains"]
    search_fields = ["name", "symbol", "slug", "coingecko_id", "defillama_slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["chains"]
    readonly_fields = ["listing", "delisted_at", "market_cap_rank", "latest_snapshot", "created_at", "updated_at"]
    inlines = [AccrualPolicyInline]
    actions = ["track_always", "track_never", "track_automatically"]
    fieldsets = [
        (None, {"fields": ["name", "symbol", "slug", ("category", "category_locked"), "chains"]}),
        ("Universe", {"fields": ["editor_choice", ("listing", "delisted_at"), "market_cap_rank"]}),
        ("Sources", {"fields": ["coingecko_id", "defillama_slug", "mapping_locked"]}),
        ("About", {"fields": ["website", "image_url", "description"]}),
        ("Supply", {"fields": ["circulating_supply", "total_supply", "max_supply"]}),
        ("Computed", {"fields": ["latest_snapshot", "created_at", "updated_at"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Token, form, change: bool) -> None:
        # An editor's mapping is an override: automatic mapping must not undo it.
        if {"coingecko_id", "defillama_slug"} & set(form.changed_data):
            obj.mapping_locked = True
        # A new id is another series: its history is backfilled as a new token's would be.
        if "coingecko_id" in form.changed_data:
            obj.price_history_at = obj.price_history_failed_at = None
        if "defillama_slug" in form.changed_data:
            obj.revenue_history_at = obj.revenue_history_failed_at = None
        # Likewise a category an editor picks: the providers' category mappings leave it.
        if "category" in form.changed_data:
            obj.category_locked = True
        # A token an editor adds is one they want tracked, whatever the providers list.
        if not change and obj.editor_choice == EditorChoice.AUTOMATIC:
            obj.editor_choice = EditorChoice.INCLUDE
        super().save_model(request, obj, form, change)

    def _choose(self, request: HttpRequest, queryset, choice: str) -> None:
        count = queryset.update(editor_choice=choice)
        self.message_user(request, f"{count} token(s) set to “{EditorChoice(choice).label}”.", messages.SUCCESS)

    @admin.action(description="Always track (even when the providers drop them)", permissions=["change"])
    def track_always(self, request: HttpRequest, queryset) -> None:
        self._choose(request, queryset, EditorChoice.INCLUDE)

    @admin.action(description="Never track (leave out of every refresh)", permissions=["change"])
    def track_never(self, request: HttpRequest, queryset) -> None:
        self._choose(request, queryset, EditorChoice.EXCLUDE)

    @admin.action(description="Track automatically (as the providers list them)", permissions=["change"])
    def track_automatically(self, request: HttpRequest, queryset) -> None:
        self._choose(request, queryset, EditorChoice.AUTOMATIC)

    @admin.display(description="Market cap", ordering="latest_snapshot__market_cap_usd")
    def market_cap(self, obj: Token) -> str:
        return usd(obj.latest_snapshot.market_cap_usd if obj.latest_snapshot else None)

    @admin.display(description="Revenue (annualised)", ordering="latest_snapshot__revenue_annualised")
    def revenue_annualised(self, obj: Token) -> str:
        return usd(obj.latest_snapshot.revenue_annualised if obj.latest_snapshot else None)

    @admin.display(description="Snapshot", ordering="latest_snapshot__date")
    def snapshot_date(self, obj: Token):
        return obj.latest_snapshot.date if obj.latest_snapshot else None


@admin.register(AccrualPolicy)
class AccrualPolicyAdmin(RetiresPageCaches, admin.ModelAdmin):
    list_display = ["token", "mechanism", "share_of_revenue", "basis", "since", "until", "updated_at"]
    list_select_related = ["token"]
    list_filter = ["mechanism", "basis"]
    search_fields = ["token__name", "token__symbol", "token__slug", "description"]
    autocomplete_fields = ["token"]
    date_hierarchy = "since"


class EditorEntryMixin:
    """Rows an editor adds are marked as the editor's, with the time they were entered."""

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("source", Source.EDITOR)
        return initial


@admin.register(AccrualEvent)
class AccrualEventAdmin(RetiresPageCaches, EditorEntryMixin, admin.ModelAdmin):
    list_display = ["token", "date", "kind", "usd_amount", "token_amount", "source", "reference"]
    list_select_related = ["token"]
    list_filter = ["kind", "source"]
    search_fields = ["token__name", "token__symbol", "token__slug", "reference", "note"]
    autocomplete_fields = ["token"]
    raw_id_fields = ["sync_run"]
    readonly_fields = ["fetched_at"]
    date_hierarchy = "date"
    fields = [
        "token",
        ("date", "kind"),
        ("usd_amount", "token_amount"),
        "reference",
        "note",
        ("source", "sync_run", "fetched_at"),
    ]

    def save_model(self, request: HttpRequest, obj: AccrualEvent, form, change: bool) -> None:
        if not change or obj.fetched_at is None:
            obj.fetched_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(RevenueReport)
class RevenueReportAdmin(RetiresPageCaches, EditorEntryMixin, admin.ModelAdmin):
    list_display = ["token", "period", "period_start", "period_end", "revenue_usd", "source", "entered_by"]
    list_select_related = ["token", "entered_by"]
    list_filter = ["period", "source"]
    search_fields = ["token__name", "token__symbol", "token__slug", "note", "source_url"]
    autocomplete_fields = ["token"]
    readonly_fields = ["entered_by", "updated_at"]
    date_hierarchy = "period_start"
    fields = [
        "token",
        ("period", "period_start", "period_end"),
        ("fees_usd", "revenue_usd", "holders_revenue_usd", "buybacks_usd"),
        "days_covered",
        ("source", "source_url"),
        "note",
        ("entered_by", "updated_at"),
    ]

    def save_model(self, request: HttpRequest, obj: RevenueReport, form, change: bool) -> None:
        if not change:
            obj.entered_by = request.user
            # A report a person types in is never "computed from daily facts".
            if obj.source == Source.COMPUTED:
                obj.source = Source.EDITOR
        super().save_model(request, obj, form, change)


@admin.register(PriceDay)
class PriceDayAdmin(ReadOnlyAdmin):
    list_display = ["token", "date", "price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "source", "fetched_at"]
    list_select_related = ["token"]
    list_filter = ["source"]
    search_fields = ["token__symbol", "token__slug"]
    raw_id_fields = ["token", "sync_run"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(RevenueDay)
class RevenueDayAdmin(ReadOnlyAdmin):
    list_display = ["token", "date", "fees_usd", "revenue_usd", "holders_revenue_usd", "source", "fetched_at"]
    list_select_related = ["token"]
    list_filter = ["source"]
    search_fields = ["token__symbol", "token__slug"]
    raw_id_fields = ["token", "sync_run"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["token", "date", "price_usd", "market_cap_usd", "revenue_annualised", "ps", "holder_yield"]
    list_select_related = ["token"]
    list_filter = ["price_source", "revenue_source"]
    search_fields = ["token__symbol", "token__slug"]
    raw_id_fields = ["token"]
    date_hierarchy = "date"
    show_full_result_count = False


class ProtocolMappedFilter(admin.SimpleListFilter):
    title = "mapped to a token"
    parameter_name = "mapped"

    def lookups(self, request, model_admin):
        return [("no", "Unmapped"), ("yes", "Mapped")]

    def queryset(self, request, queryset):
        mapped = Exists(Token.objects.filter(defillama_slug=OuterRef("slug")))
        if self.value() == "no":
            return queryset.filter(~mapped)
        if self.value() == "yes":
            return queryset.filter(mapped)
        return queryset


@admin.register(DefiLlamaProtocol)
class DefiLlamaProtocolAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "symbol", "gecko_id", "category", "token", "seen_at"]
    list_filter = [ProtocolMappedFilter, "category"]
    search_fields = ["name", "slug", "symbol", "gecko_id"]

    def get_queryset(self, request):
        tokens = Token.objects.filter(defillama_slug=OuterRef("slug")).values("slug")[:1]
        return super().get_queryset(request).annotate(token_slug=Subquery(tokens))

    @admin.display(description="Token", ordering="token_slug")
    def token(self, obj) -> str:
        return obj.token_slug or "— unmapped —"


class NeedsMappingFilter(admin.SimpleListFilter):
    title = "needs an editor"
    parameter_name = "unmapped"

    def lookups(self, request, model_admin):
        return [("yes", "Not mapped yet (Other)"), ("no", "Mapped")]

    def queryset(self, request, queryset):
        unmapped = {"category": Category.OTHER, "mapped_by_editor": False}
        if self.value() == "yes":
            return queryset.filter(**unmapped)
        if self.value() == "no":
            return queryset.exclude(**unmapped)
        return queryset


@admin.register(CategoryMapping)
class CategoryMappingAdmin(RetiresPageCaches, admin.ModelAdmin):
    """Provider category names met by discovery and the Accrual category each maps to. A
    name nobody mapped maps to Other and is listed under "needs an editor". Saving a mapping
    re-categorises its tokens at once (but those whose category an editor picked)."""

    list_display = ["name", "provider", "category", "mapped_by_editor", "first_seen_at"]
    list_editable = ["category"]
    list_filter = [NeedsMappingFilter, "provider", "category"]
    search_fields = ["name"]
    readonly_fields = ["provider", "name", "mapped_by_editor", "first_seen_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # names come from the providers

    def save_model(self, request: HttpRequest, obj: CategoryMapping, form, change: bool) -> None:
        obj.mapped_by_editor = True
        super().save_model(request, obj, form, change)
        count = category_mapping_apply(mapping=obj)
        if count:
            self.message_user(request, f"{obj.name}: {count} token(s) re-categorised.", messages.INFO)


@admin.register(DataSet)
class DataSetAdmin(ReadOnlyAdmin):
    """Which data set the database holds; changed only by loads, refreshes and clear_data."""

    list_display = ["mode", "recorded_at"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "provider",
        "kind",
        "status",
        "rows_written",
        "pages",
        "retries",
        "remaining",
        "finished_at",
    ]
    actions = ["refresh_now"]
    change_list_template = "admin/tokens/syncrun/change_list.html"

    def get_urls(self):
        plan = path("plan/", self.admin_site.admin_view(self.plan_view), name="tokens_syncrun_plan")
        return [plan, *super().get_urls()]

    def plan_view(self, request: HttpRequest) -> HttpResponse:
        """The request budget's plan (``refresh_data --plan`` in a page), for anyone who may see runs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        current = budget.current_plan()
        tables = [
            (name, budget.PLAN_HEADINGS[name], rows) for name, rows in budget.plan_tables(current).items() if rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Request budget",
            "plan": current,
            "interval_minutes": int(current.interval.total_seconds() // 60),
            "tables": tables,
        }
        return TemplateResponse(request, "admin/tokens/budget_plan.html", context)

    @admin.action(description="Refresh now (the kinds of the selected runs)", permissions=["view"])
    def refresh_now(self, request: HttpRequest, queryset) -> None:
        from .tasks import REFRESH_TASKS

        kinds = sorted({kind for kind in queryset.values_list("kind", flat=True) if kind in REFRESH_TASKS})
        refusal = data_set_refusal(offered=settings.ACCRUAL_DATA_MODE)
        if kinds and refusal:  # the task would refuse too; say so now rather than queue it
            self.message_user(request, f"Not refreshed. {refusal}", messages.ERROR)
            return
        for kind in kinds:
            transaction.on_commit(REFRESH_TASKS[kind].delay)
        if kinds:
            self.message_user(request, f"Queued a refresh of: {', '.join(kinds)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected runs can be refreshed from here.", messages.WARNING)

    list_filter = ["provider", "kind", "status"]
    search_fields = ["error"]
    date_hierarchy = "started_at"
