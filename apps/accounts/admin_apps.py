"""The admin app, served by Accrual's site (apps.accounts.admin_site)."""

from django.contrib.admin.apps import AdminConfig


class AccrualAdminConfig(AdminConfig):
    default_site = "apps.accounts.admin_site.AccrualAdminSite"
