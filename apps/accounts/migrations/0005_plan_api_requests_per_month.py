"""The API's monthly quota; the two starting plans get thirty times their daily figure."""

from django.db import migrations, models

MONTHLY = {"free": 30_000, "pro": 1_500_000}


def set_monthly_quotas(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for slug, per_month in MONTHLY.items():
        Plan.objects.filter(slug=slug).update(api_requests_per_month=per_month)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_free_and_pro_plans'),
    ]

    operations = [
        migrations.AddField(
            model_name='plan',
            name='api_requests_per_month',
            field=models.PositiveIntegerField(default=30000),
        ),
        migrations.RunPython(set_monthly_quotas, migrations.RunPython.noop),
    ]
