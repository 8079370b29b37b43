"""The "Editors" group: staff who curate tokens, accrual policies, events and revenue reports.

Permissions are created here first (Django only creates them after all migrations, in
post_migrate), so the group is complete on a fresh database as well as an old one.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "Editors"
# model → actions the group gets on it
EDITOR_PERMISSIONS = {
    "token": ["add", "change", "view"],
    "chain": ["add", "change", "view"],
    "accrualpolicy": ["add", "change", "delete", "view"],
    "accrualevent": ["add", "change", "delete", "view"],
    "revenuereport": ["add", "change", "delete", "view"],
    "priceday": ["view"],
    "revenueday": ["view"],
    "metricsnapshot": ["view"],
    "syncrun": ["view"],
}


def create_editors_group(apps, schema_editor):
    app_config = apps.get_app_config("tokens")
    models_module = getattr(app_config, "models_module", None)
    # create_permissions skips apps without a models module, which historical apps lack.
    app_config.models_module = models_module or True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=EDITORS)
    codenames = [f"{action}_{model}" for model, actions in EDITOR_PERMISSIONS.items() for action in actions]
    permissions = Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="tokens", codename__in=codenames
    )
    group.permissions.add(*permissions)


def remove_editors_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=EDITORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_editors_group, remove_editors_group)]
