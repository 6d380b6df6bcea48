from django.apps import AppConfig


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"

    def ready(self) -> None:
        # The admin dashboard's card; config.admin cannot import this app.
        from config.admin import dashboard_card_register

        from .admin import dashboard_figures

        dashboard_card_register("Billing webhooks", dashboard_figures)

        # This app's sections of the account export (accounts assembles the archive).
        from .account_export import account_export_sections_register

        account_export_sections_register()
