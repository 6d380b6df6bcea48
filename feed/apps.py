from django.apps import AppConfig


class FeedConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "feed"

    def ready(self) -> None:
        # Generation knows nothing of posts; feed adds the post a remix came from to its jobs' state.
        # Imported here: models cannot load before the app registry is ready.
        from generation.selectors import job_state_extension_register

        from .selectors import job_remix_source_fields

        job_state_extension_register(job_remix_source_fields)

        # The admin dashboard's moderation card; config.admin cannot import this app.
        from config.admin import dashboard_card_register

        from .admin import dashboard_figures

        dashboard_card_register("Moderation", dashboard_figures)

        from .notifications import notification_types_register

        notification_types_register()

        # A cameo's consent narrowed or widened: take posts down, or back up.
        from accounts.cameos.hooks import cameo_consent_listener_register

        from .cameos import posts_consent_sync

        cameo_consent_listener_register(posts_consent_sync)

        # This app's sections of the account export (accounts assembles the archive).
        from .account_export import account_export_sections_register

        account_export_sections_register()

        # Account deletion: posts (tombstoned where remixed), likes, comments, shares, reports.
        from accounts.deletion.registry import account_purge_step_register

        from .deletion import ANONYMISES, HANDLES, account_feed_purge

        account_purge_step_register("feed", account_feed_purge, after=("creators",), handles=HANDLES,
                                    anonymises=ANONYMISES)

        # A taken-down or removed post's files (its renditions' included) are not served any more.
        from config.media import media_refusal_register

        from .renditions import media_refused

        media_refusal_register(media_refused)
