"""Top 10 lists: the working entries editors edit, and the dated revisions readers see.

A published list changes only by revisions; each revision keeps an immutable copy of its
entries (``RevisionEntry``), so every entry and exit stays on the record.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from apps.tokens.models import Token

MAX_ENTRIES = 10


class TopList(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    summary = models.TextField(blank=True)
    criteria = models.TextField(blank=True, help_text="What a token must meet to be on the list.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    publish_at = models.DateTimeField(null=True, blank=True, help_text="When a scheduled list publishes itself (UTC).")
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the scheduled publish last failed (cleared when it succeeds), for the editor to fix.
    schedule_error = models.TextField(blank=True, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    sponsored = models.BooleanField(default=False)
    sponsor_name = models.CharField(max_length=200, blank=True)
    # Made by load_sample_data from sample tokens: shown only while the sample data set is.
    is_sample = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-published_at", "title"]
        verbose_name = "Top 10 list"

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("editorial:detail", kwargs={"slug": self.slug})

    @property
    def is_public(self) -> bool:
        return self.status in {self.Status.PUBLISHED, self.Status.ARCHIVED}


class ListEntry(models.Model):
    """A working entry: what editors edit; readers see it once a revision copies it."""

    top_list = models.ForeignKey(TopList, on_delete=models.CASCADE, related_name="entries")
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="+")
    # The order field django-admin-sortable2 drags; publishing needs 1..n without a gap.
    rank = models.PositiveSmallIntegerField(default=0, db_index=True)
    blurb = models.CharField(max_length=500, blank=True, help_text="The editor's short reason for this token.")
    sponsored = models.BooleanField(default=False)
    sponsor_name = models.CharField(max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "list entries"
        constraints = [models.UniqueConstraint(fields=["top_list", "token"], name="list_entry_token_once")]

    def __str__(self) -> str:
        return f"{self.rank}. {self.token_id}"


class Revision(models.Model):
    """A dated state of a published list: number 1 is its publication."""

    top_list = models.ForeignKey(TopList, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    made_at = models.DateTimeField()
    note = models.TextField(blank=True, help_text="Why the list changed.")
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Only the note may change after publication (a typo); its old wording is kept.
    history = HistoricalRecords()

    class Meta:
        ordering = ["top_list", "number"]
        constraints = [models.UniqueConstraint(fields=["top_list", "number"], name="revision_number_once")]

    def __str__(self) -> str:
        return f"{self.top_list_id} r{self.number}"


class RevisionEntry(models.Model):
    """An entry as a revision published it; never edited afterwards."""

    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="entries")
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    blurb = models.CharField(max_length=500, blank=True)
    sponsored = models.BooleanField(default=False)
    sponsor_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["revision", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "token"], name="revision_entry_token_once"),
            models.UniqueConstraint(fields=["revision", "rank"], name="revision_entry_rank_once"),
        ]

    def __str__(self) -> str:
        return f"{self.revision_id} {self.rank}. {self.token_id}"
