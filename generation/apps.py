from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        # The admin dashboard's generation card; config.admin cannot import this app.
        from config.admin import dashboard_card_register

        from .admin import dashboard_figures, provider_dashboard_figures

        dashboard_card_register("Generation jobs", dashboard_figures)
        dashboard_card_register("Video providers", provider_dashboard_figures)

        from .notifications import notification_types_register

        notification_types_register()

        # Revoking a cameo cancels the queued and running jobs that lack consent now.
        from accounts.cameos.hooks import cameo_consent_listener_register

        from .services.cameos import jobs_without_consent_cancel

        cameo_consent_listener_register(jobs_without_consent_cancel)

        # This app's sections of the account export (accounts assembles the archive).
        from .account_export import account_export_sections_register

        account_export_sections_register()

        # Account deletion: jobs canceled at the request, then deleted with their files.
        from accounts.deletion.registry import account_purge_step_register

        from .services.deletion import HANDLES, account_jobs_cancel, account_jobs_hold, account_jobs_purge

        account_purge_step_register("generation", account_jobs_purge, after=("feed",), on_request=account_jobs_cancel,
                                    hold=account_jobs_hold, handles=HANDLES)
