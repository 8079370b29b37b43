from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from .models import Scope

EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


class APIKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=50, help_text="To tell your keys apart, e.g. where it is used.")
    write_watchlists = forms.BooleanField(required=False, label="May also change my watchlists")
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def scopes(self) -> list[str]:
        return [Scope.READ] + ([Scope.WATCHLISTS_WRITE] if self.cleaned_data["write_watchlists"] else [])

    def expires_at(self) -> dt.datetime | None:
        days = self.cleaned_data["expires_in"]
        return timezone.now() + dt.timedelta(days=int(days)) if days else None
