"""GET forms of the ratings pages: what readers pick, turned into selector arguments.
A value that does not validate is reported and left out; it never reaches a query."""

from __future__ import annotations

from django import forms

from apps.tokens.models import Category

from .selectors import BANDS, LEADERBOARD_SORTS, NOT_RATED_FILTER

GRADE_CHOICES = [("investor", "Investor grade"), ("trader", "Trader grade")]
TEXT_SORTS = frozenset({"name", "category"})


class LeaderboardForm(forms.Form):
    grade = forms.ChoiceField(label="Rank by", choices=GRADE_CHOICES, required=False)
    category = forms.ChoiceField(label="Category", choices=[("", "All categories"), *Category.choices], required=False)
    band = forms.ChoiceField(
        label="Band",
        choices=[("", "All bands"), *((b, f"Band {b}") for b in BANDS), (NOT_RATED_FILTER, "Not rated")],
        required=False,
    )
    sort = forms.ChoiceField(choices=[("", "")] + [(key, key) for key in LEADERBOARD_SORTS], required=False)
    dir = forms.ChoiceField(choices=[("", ""), ("asc", "asc"), ("desc", "desc")], required=False)

    def selector_kwargs(self) -> dict[str, str]:
        """Valid fields only (call after ``is_valid()``); an invalid one falls back to its default."""
        data = getattr(self, "cleaned_data", {})
        grade = data.get("grade") or "investor"
        sort = data.get("sort") or grade
        direction = data.get("dir") or ("asc" if sort in TEXT_SORTS else "desc")
        return {
            "grade": grade,
            "category": data.get("category") or "",
            "band": data.get("band") or "",
            "sort": sort,
            "direction": direction,
        }


class CompareForm(forms.Form):
    """Two days to compare a token's ratings between."""

    start = forms.DateField(label="From", input_formats=["%Y-%m-%d"])
    end = forms.DateField(label="To", input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The first date must be on or before the second.")
        return data
