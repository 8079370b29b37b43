from __future__ import annotations

from django import forms


class SignupForm(forms.Form):
    email = forms.EmailField(max_length=254, error_messages={"required": "Enter your email address."})
    source = forms.CharField(max_length=200, required=False)

    def clean_source(self) -> str:
        """A path on this site, or nothing (it is recorded, and the plain form returns to it)."""
        source = self.cleaned_data.get("source") or ""
        if not source.startswith("/") or source.startswith("//") or "\\" in source:
            return ""
        return source
