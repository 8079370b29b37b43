from django import forms

from .models import NAME_MAX_LENGTH


class WatchlistNameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX_LENGTH, strip=True)
