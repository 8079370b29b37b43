from django.apps import AppConfig


class BriefingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.briefings"
    verbose_name = "Daily briefings"
