"""The daily briefing: what changed in the fundamentals on one day, built once and stored
as sent, and the editor's note an editor writes for it in the admin."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class Briefing(models.Model):
    """One day's briefing. ``sections`` holds every figure as it was built (token slug,
    values, as-of), so its page and emails show what was sent even if the data changes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (waiting for the editor's note)"
        READY = "ready", "Ready (published, queued to send)"
        SENT = "sent", "Sent"

    date = models.DateField(unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    sections = models.JSONField(default=dict, blank=True)
    built_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Built from the sample data set: shown only while the sample data set is.
    is_sample = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"Briefing {self.date:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("briefings:detail", kwargs={"day": self.date.isoformat()})

    @property
    def is_public(self) -> bool:
        return self.status in {self.Status.READY, self.Status.SENT}


class EditorNote(models.Model):
    """The editor's note for a day's briefing, written before its send time; the build
    copies it into the briefing."""

    date = models.DateField(unique=True, help_text="The day of the briefing the note goes in (UTC).")
    text = models.TextField(help_text="Plain text; blank lines separate paragraphs.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"Note for {self.date:%Y-%m-%d}"
