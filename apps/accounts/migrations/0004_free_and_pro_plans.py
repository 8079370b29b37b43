"""The two plans every site starts with; editors change them in the admin afterwards."""

from django.db import migrations

UPGRADE = (
    "There is no payment yet: to move to Pro, write to hello@accrual.invalid from the address "
    "you signed up with and an editor will switch your plan."
)

PLANS = [
    {
        "slug": "free",
        "name": "Free",
        "description": "Everything on the site, with room for a few watchlists.",
        "max_watchlists": 3,
        "max_tokens_per_watchlist": 50,
        "max_alert_rules": 10,
        "max_webhooks": 0,
        "api_requests_per_minute": 30,
        "api_requests_per_day": 1_000,
        "is_default": True,
        "how_to_upgrade": UPGRADE,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "description": "More and larger watchlists, webhooks and higher API quotas.",
        "max_watchlists": 20,
        "max_tokens_per_watchlist": 200,
        "max_alert_rules": 200,
        "max_webhooks": 5,
        "api_requests_per_minute": 300,
        "api_requests_per_day": 50_000,
        "is_default": False,
        "how_to_upgrade": "You are on the highest plan.",
    },
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for values in PLANS:
        Plan.objects.update_or_create(slug=values["slug"], defaults=values)


def remove_plans(apps, schema_editor):
    # Plans still assigned to readers are kept (PROTECT), so going back never loses a choice.
    Plan = apps.get_model("accounts", "Plan")
    Plan.objects.filter(slug__in=[p["slug"] for p in PLANS], users__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_plans")]

    operations = [migrations.RunPython(create_plans, remove_plans)]
