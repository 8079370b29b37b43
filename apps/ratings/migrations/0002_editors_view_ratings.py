"""Editors may view ratings and rating changes in the admin (only the service writes them)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "Editors"
CODENAMES = ["view_rating", "view_ratingchange"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("ratings")
    models_module = getattr(app_config, "models_module", None)
    # create_permissions skips apps without a models module, which historical apps lack.
    app_config.models_module = models_module or True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    group, _ = Group.objects.using(db).get_or_create(name=EDITORS)
    group.permissions.add(
        *Permission.objects.using(db).filter(content_type__app_label="ratings", codename__in=CODENAMES)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    for group in Group.objects.using(db).filter(name=EDITORS):
        group.permissions.remove(
            *Permission.objects.using(db).filter(content_type__app_label="ratings", codename__in=CODENAMES)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0001_initial"),
        ("tokens", "0002_editors_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
