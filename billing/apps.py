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

        # Account deletion: store subscriptions checked, Stripe ones ended, the ledger and payment
        # records kept under the deleted account's placeholder.
        from accounts.deletion.registry import account_purge_step_register

        from .services.deletion import (
            ANONYMISES,
            HANDLES,
            account_billing_hold,
            account_billing_purge,
            account_store_check,
            account_stripe_cancel,
            account_stripe_restore,
        )

        account_purge_step_register("billing", account_billing_purge, after=("generation",),
                                    check=account_store_check, on_request=account_stripe_cancel,
                                    on_cancel=account_stripe_restore, hold=account_billing_hold,
                                    handles=HANDLES, anonymises=ANONYMISES)
