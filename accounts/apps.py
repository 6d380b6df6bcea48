from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from .notifications.texts import notification_types_register

        notification_types_register()

        from .cameos.notifications import notification_types_register as cameo_types_register

        cameo_types_register()

        from .exports.notifications import notification_types_register as export_types_register

        export_types_register()

        # Accounts' own sections of the account export; every app above adds its own the same way.
        from .account_export import account_export_sections_register

        account_export_sections_register()
