"""App configs of config itself."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with our AdminSite as `admin.site` (Django's documented way to replace it)."""

    default_site = "config.admin.AdminSite"
