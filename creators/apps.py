from django.apps import AppConfig


class CreatorsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "creators"

    def ready(self) -> None:
        # The admin dashboard's card; config.admin cannot import this app.
        from config.admin import dashboard_card_register

        from .admin import dashboard_figures

        dashboard_card_register("Creator programme", dashboard_figures)

        from .notifications import notification_types_register

        notification_types_register()

        # This app's sections of the account export (accounts assembles the archive).
        from .account_export import account_export_sections_register

        account_export_sections_register()

        # Account deletion: payouts settled first, rewards and payouts kept under the placeholder.
        from accounts.deletion.registry import account_purge_step_register

        from .services.deletion import ANONYMISES, HANDLES, account_creator_purge, account_payouts_hold

        account_purge_step_register("creators", account_creator_purge, hold=account_payouts_hold, handles=HANDLES,
                                    anonymises=ANONYMISES)
