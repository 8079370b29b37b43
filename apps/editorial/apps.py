from django.apps import AppConfig


class EditorialConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.editorial"
    verbose_name = "Editorial"

    def ready(self) -> None:
        from apps.tokens import budget

        from .selectors import listed_token_ids

        # The tokens of published lists are quoted every market run when the budget allows.
        budget.priority_source("editorial", listed_token_ids)
