from django.db import migrations, models

# The bundled sample's burns were all buy-and-burn programmes (GEOD, CAKE, GNS: tokens
# bought from the market with revenue, then burned). They become "buyback-burn" with the
# reference the regenerated sample gives them, so that reloading it updates these rows
# instead of adding a second copy of each (which would count every burn twice). Other
# burns (editors', live) are left as they are: whether their tokens were bought is a fact
# only an editor can tell.
SAMPLE_BURNS = {"source": "sample", "kind": "burn", "reference__startswith": "sample:", "reference__contains": ":burn:"}


def sample_burns_to_buy_and_burn(apps, schema_editor) -> None:
    AccrualEvent = apps.get_model("tokens", "AccrualEvent")
    for event in AccrualEvent.objects.filter(**SAMPLE_BURNS):
        event.kind = "buyback-burn"
        event.reference = event.reference.replace(":burn:", ":buyback-burn:", 1)
        event.save(update_fields=["kind", "reference"])


def sample_buy_and_burn_to_burns(apps, schema_editor) -> None:
    AccrualEvent = apps.get_model("tokens", "AccrualEvent")
    for event in AccrualEvent.objects.filter(
        source="sample", kind="buyback-burn", reference__startswith="sample:", reference__contains=":buyback-burn:"
    ):
        event.kind = "burn"
        event.reference = event.reference.replace(":buyback-burn:", ":burn:", 1)
        event.save(update_fields=["kind", "reference"])


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0007_sync_run_brin"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accrualevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("buyback", "Buyback"),
                    ("buyback-burn", "Buy and burn"),
                    ("burn", "Burn"),
                    ("distribution", "Distribution"),
                ],
                help_text=(
                    "Buyback: bought from the market and held. Buy and burn: bought from the market and burned. "
                    "Burn: burned without being bought (a fee or treasury burn). Buybacks and buy-and-burns count "
                    "in buyback yield; burns and buy-and-burns in the burned share."
                ),
                max_length=16,
            ),
        ),
        migrations.RunPython(sample_burns_to_buy_and_burn, sample_buy_and_burn_to_burns),
    ]
