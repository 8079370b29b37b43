"""Token.latest_snapshot without an index, and room on the token table's pages.

Every token's pointer moves on each day's first market refresh (20,000 rows). With no index
on the column and free space on each page, PostgreSQL updates such a row in place (a HOT
update) rather than writing a new entry into each of the table's dozen indexes: about ten
times less work (bench/README.md). Rows are updated all day (supplies, pointers) and the
table is small, so half of each page is left free.
"""

import django.db.models.deletion
from django.db import migrations, models


def set_fillfactor(apps, schema_editor, value: int | None = 50) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("tokens", "Token")._meta.db_table
    option = f"SET (fillfactor = {value})" if value else "RESET (fillfactor)"
    schema_editor.execute(f"ALTER TABLE {table} {option}")


def reset_fillfactor(apps, schema_editor) -> None:
    set_fillfactor(apps, schema_editor, None)


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0003_protocol_mapping"),
    ]

    operations = [
        migrations.AlterField(
            model_name="token",
            name="latest_snapshot",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tokens.metricsnapshot",
            ),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
