"""Refresh state for resumable history jobs: when a token's last history fetch failed, and
how many tokens a run left for the next. Tokens that already hold history count as
backfilled (their ``*_history_at`` is their newest fact's fetch time), so an existing
deployment is not backfilled all over again."""

from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery


def history_already_fetched(apps, schema_editor):
    Token = apps.get_model("tokens", "Token")
    db = schema_editor.connection.alias
    for model_name, field in (("PriceDay", "price_history_at"), ("RevenueDay", "revenue_history_at")):
        model = apps.get_model("tokens", model_name)
        newest = (
            model.objects.using(db)
            .filter(token=OuterRef("pk"))
            .order_by()
            .values("token")
            .annotate(at=Max("fetched_at"))
            .values("at")
        )
        Token.objects.using(db).filter(**{field: None}).filter(
            pk__in=model.objects.using(db).values("token")
        ).update(**{field: Subquery(newest)})


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0012_universe_category_locked"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="remaining",
            field=models.PositiveIntegerField(default=0, help_text="Tokens left for the next run"),
        ),
        migrations.AddField(
            model_name="token",
            name="price_history_failed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="token",
            name="revenue_history_failed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(history_already_fetched, migrations.RunPython.noop),
    ]
