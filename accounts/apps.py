from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from .notifications.texts import notification_types_register

        notification_types_register()

        from .cameos.notifications import notification_types_register as cameo_types_register

        cameo_types_register()
