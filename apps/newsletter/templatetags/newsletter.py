from __future__ import annotations

from django import template

from apps.newsletter.selectors import subscription_for_user

register = template.Library()


@register.inclusion_tag("newsletter/_account_panel.html", takes_context=True)
def newsletter_account_panel(context) -> dict:
    """The account page's newsletter panel: the reader's subscription and its button."""
    user = context["request"].user
    return {"subscription": subscription_for_user(user), "csrf_token": context.get("csrf_token")}
