from django import forms

from apps.tokens.models import Token

from .models import KINDS_WITHOUT_THRESHOLD, NAME_MAX_LENGTH, AlertDelivery, AlertDirection, AlertKind, Watchlist


class WatchlistNameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX_LENGTH, strip=True)


class AlertRuleForm(forms.Form):
    """A new alert rule. ``target`` names a token by slug, or ``watchlist`` one of the reader's
    lists by id; unknown or foreign ones are form errors (nothing is written)."""

    token = forms.CharField(
        label="Token", required=False, max_length=100, strip=True, help_text="Its slug, e.g. uniswap"
    )
    watchlist = forms.TypedChoiceField(label="or a watchlist", required=False, coerce=int, empty_value=None)
    kind = forms.ChoiceField(label="When", choices=AlertKind.choices)
    threshold = forms.DecimalField(
        label="Threshold",
        required=False,
        max_digits=22,
        decimal_places=4,
        help_text="% for revenue and price moves, a ratio for P/S and P/HR, USD for buybacks and burns",
    )
    direction = forms.ChoiceField(
        label="Direction", choices=AlertDirection.choices, initial=AlertDirection.ANY, required=False
    )
    delivery = forms.ChoiceField(label="Tell me by", choices=AlertDelivery.choices, initial=AlertDelivery.IN_APP)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.lists = {w.pk: w for w in Watchlist.objects.filter(user=user)}
        self.fields["watchlist"].choices = [("", "—")] + [(pk, w.name) for pk, w in self.lists.items()]
        self.fields["watchlist"].error_messages["invalid_choice"] = "That watchlist is not one of yours."

    def clean_token(self) -> Token | None:
        slug = self.cleaned_data.get("token")
        if not slug:
            return None
        token = Token.objects.filter(slug=slug.lower()).first()
        if token is None:
            raise forms.ValidationError(f"There is no token “{slug}”. Use the slug from its page's address.")
        return token

    def clean_watchlist(self) -> Watchlist | None:
        pk = self.cleaned_data.get("watchlist")
        return self.lists.get(pk) if pk is not None else None

    def clean_direction(self) -> str:
        return self.cleaned_data.get("direction") or AlertDirection.ANY

    def clean(self) -> dict:
        data = super().clean()
        token, watchlist = data.get("token"), data.get("watchlist")
        if "token" not in self.errors and "watchlist" not in self.errors and (token is None) == (watchlist is None):
            raise forms.ValidationError("Choose either a token or one of your watchlists (not both).")
        kind, threshold = data.get("kind"), data.get("threshold")
        if kind and kind not in KINDS_WITHOUT_THRESHOLD and "threshold" not in self.errors:
            if threshold is None:
                self.add_error("threshold", "This kind of alert needs a threshold.")
            elif threshold <= 0:
                self.add_error("threshold", "The threshold must be greater than 0.")
        return data
