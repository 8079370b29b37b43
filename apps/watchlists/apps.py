from django.apps import AppConfig


class WatchlistsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.watchlists"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .signals import apply_pending_star

        user_logged_in.connect(apply_pending_star, dispatch_uid="watchlists.apply_pending_star")
