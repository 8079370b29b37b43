from django.apps import AppConfig


class WatchlistsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.watchlists"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from apps.tokens import budget

        from .selectors import watched_token_ids
        from .signals import apply_pending_star

        user_logged_in.connect(apply_pending_star, dispatch_uid="watchlists.apply_pending_star")
        # Watched tokens are quoted every market run when the request budget allows.
        budget.priority_source("watchlists", watched_token_ids)
