"""Each token's latest rating moves from a flag on the (wide) rating rows to a small
pointer table: the pointer moves every day for every token, and rewriting 20,000 wide
rows twice a day to move a flag cost more than writing the ratings themselves."""

import django.db.models.deletion
from django.db import migrations, models


def copy_flags(apps, schema_editor):
    Rating = apps.get_model("ratings", "Rating")
    LatestRating = apps.get_model("ratings", "LatestRating")
    db = schema_editor.connection.alias
    LatestRating.objects.using(db).bulk_create(
        [
            LatestRating(token_id=token_id, methodology_version=version, rating_id=pk, date=date)
            for pk, token_id, version, date in Rating.objects.using(db)
            .filter(is_latest=True)
            .values_list("pk", "token_id", "methodology_version", "date")
            .iterator()
        ],
        batch_size=2000,
    )


def copy_pointers(apps, schema_editor):
    Rating = apps.get_model("ratings", "Rating")
    LatestRating = apps.get_model("ratings", "LatestRating")
    db = schema_editor.connection.alias
    Rating.objects.using(db).filter(
        pk__in=LatestRating.objects.using(db).values("rating_id")
    ).update(is_latest=True)


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0002_editors_view_ratings"),
        ("tokens", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LatestRating",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("methodology_version", models.CharField(max_length=16)),
                ("date", models.DateField()),
                (
                    "rating",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="latest", to="ratings.rating"
                    ),
                ),
                (
                    "token",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tokens.token"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("token", "methodology_version"), name="latest_rating_unique")
                ],
            },
        ),
        migrations.RunPython(copy_flags, copy_pointers),
        migrations.RemoveConstraint(model_name="rating", name="rating_one_latest"),
        migrations.RemoveField(model_name="rating", name="is_latest"),
    ]
